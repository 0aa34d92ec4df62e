"""Query engines: the embedded Oxigraph store and a remote SPARQL 1.1 store, one interface."""
