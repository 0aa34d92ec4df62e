"""UI strings in English and French, and the reader's language.

The language is chosen once per request (``?lang=``, then ``Accept-Language``, then English) and
shared by every page through the ``t`` and ``lang`` template globals.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, current_app, g, request

from graph.namespaces import STANDARD_PREFIXES

DEFAULT_LANGUAGE = "en"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "site.name": "Rabat Process Knowledge Graph",
        "site.tagline": "Domain 5 of the Marrakesh Action Plan, as linked data with its sources",
        "nav.home": "Home",
        "nav.sparql": "Query editor",
        "nav.queries": "Stored queries",
        "nav.ontology": "Ontology",
        "nav.shapes": "Shapes",
        "nav.validation": "Validation",
        "nav.dumps": "Data dumps",
        "nav.void": "Dataset description (VoID)",
        "nav.language": "Language",
        "nav.skip": "Skip to content",
        "footer.licence": "Data licence",
        "footer.version": "Data version",
        "home.title": "Rabat Process Knowledge Graph",
        "home.intro": "A knowledge graph of the Rabat Process (the Euro-African Dialogue on Migration and "
                      "Development), Domain 5 of the Marrakesh Action Plan: its reference countries, what "
                      "they did and when, the programmes and organisations involved, and for each "
                      "statement the exact quote from the progress paper it comes from.",
        "home.covers": "What the graph covers",
        "home.class": "Class",
        "home.count": "Things",
        "home.triples": "triples",
        "home.browse": "Browse by class",
        "home.search": "Search",
        "home.tools": "Query and download",
        "home.editor": "Write SPARQL in the query editor",
        "home.stored": "Run a stored query (competency questions)",
        "home.ontology": "Read the ontology",
        "home.validation": "See the live SHACL validation report",
        "home.dumps": "Download the whole graph",
        "home.void": "Dataset description (VoID and DCAT)",
        "map.title": "Map of the partners and reference countries of the Rabat Process",
        "map.heading": "Partners and reference countries",
        "map.partner": "partner",
        "map.observer": "observer",
        "map.reference": "reference country of a domain",
        "map.reference_of": "reference country of",
        "map.domain": "Domain {n}",
        "map.activities": "{n} activities in the graph",
        "map.focus": "this country",
        "map.counts": "{partners} partner countries and {observers} observer countries in the graph; "
                      "in dark blue, the reference countries of the domains of the action plan.",
        "map.by_domain": "Reference countries by domain",
        "map.missing": "Not on the map (no shape or code)",
        "map.shapes": "Shapes: Natural Earth, via world-atlas.",
        "map.country_heading": "On the map",
        "map.country_activities": "Activities in the graph",
        "search.placeholder": "Search labels in English or French",
        "search.button": "Search",
        "search.title": "Search",
        "search.results": "Results",
        "search.none": "Nothing matches.",
        "search.for": "Results for",
        "search.in_class": "Class",
        "search.all_classes": "all classes",
        "search.truncated": "Only the first {n} results are shown.",
        "entity.iri": "IRI",
        "entity.copy": "Copy",
        "entity.copied": "Copied",
        "entity.types": "Types",
        "entity.labels": "Labels in every language",
        "entity.fallback": "No label in {want}; shown in {got}.",
        "entity.no_label": "This thing has no label.",
        "entity.properties": "Statements",
        "entity.property": "Property",
        "entity.value": "Value",
        "entity.incoming": "Links to this",
        "entity.incoming_more": "{shown} of {total} shown.",
        "entity.incoming_capped": "Incoming links are capped at {n}.",
        "entity.show_all": "Show all",
        "entity.quoted_as_object": "Quoted statements with this as object",
        "entity.quoted_as_subject": "Quoted statements about this",
        "entity.provenance": "Where this comes from",
        "entity.quote": "Quote",
        "entity.source": "Source",
        "entity.supports": "Supports the statements",
        "entity.this": "this",
        "entity.identifiers": "Identifiers",
        "entity.in_document": "in",
        "entity.ref_source": "Reference source",
        "entity.timeline": "Timeline",
        "entity.timeline_query": "Open the timeline's query in the editor",
        "entity.date": "Date",
        "entity.activity": "Activity",
        "entity.download": "Download this description",
        "entity.query": "Open the query behind this page in the editor",
        "entity.cite": "Cite",
        "entity.accessed": "accessed",
        "entity.conformance": "SHACL conformance",
        "entity.conforms": "Conforms to the shapes",
        "entity.violations": "{n} problem(s) found by the shapes",
        "entity.validation_unavailable": "Validation report unavailable",
        "entity.see_report": "full report",
        "ontology.title": "Ontology",
        "ontology.classes": "Classes",
        "ontology.properties": "Properties",
        "ontology.contents": "Contents",
        "ontology.undrawn": "Properties without a declared domain or range (not drawn)",
        "ontology.diagram": "Classes and their relations",
        "ontology.diagram_note": "Boxes are the classes; an arrow goes from a property's domain to its "
                                 "range, an open arrow from a class to its superclass.",
        "ontology.domain": "Domain",
        "ontology.range": "Range",
        "ontology.super_class": "Subclass of",
        "ontology.super_property": "Subproperty of",
        "ontology.inverse": "Inverse of",
        "ontology.definition": "Definition",
        "ontology.download": "Download the ontology",
        "ontology.metadata": "About this ontology",
        "ontology.version": "Version",
        "ontology.licence": "Licence",
        "ontology.prefix": "Preferred prefix",
        "ontology.namespace": "Namespace",
        "ontology.other_props": "Other property types",
        "shapes.title": "SHACL shapes",
        "shapes.target": "Target class",
        "shapes.path": "Path",
        "shapes.constraints": "Constraints",
        "shapes.message": "Message",
        "shapes.download": "Download the shapes",
        "validation.title": "Validation report",
        "validation.conforms": "The data conforms to the shapes.",
        "validation.not_conforms": "The data does not conform to the shapes: {n} result(s).",
        "validation.focus": "Focus node",
        "validation.severity": "Severity",
        "validation.shape": "Shape",
        "validation.component": "Constraint",
        "validation.download": "Download the report",
        "validation.version": "Report for data version",
        "validation.validated_at_load": "This release was validated against the shapes when it was loaded, "
                                        "and conforms.",
        "dumps.title": "Data dumps",
        "error.title": "Error",
        "error.not_found": "Not found",
        "error.not_found_text": "There is nothing here. The address may be mistyped, "
                                "or the thing is not in this graph.",
        "error.back": "Back to the home page",
    },
    "fr": {
        "site.name": "Graphe de connaissances du Processus de Rabat",
        "site.tagline": "Domaine 5 du Plan d'action de Marrakech, en données liées avec leurs sources",
        "nav.home": "Accueil",
        "nav.sparql": "Éditeur de requêtes",
        "nav.queries": "Requêtes enregistrées",
        "nav.ontology": "Ontologie",
        "nav.shapes": "Formes",
        "nav.validation": "Validation",
        "nav.dumps": "Téléchargements",
        "nav.void": "Description du jeu de données (VoID)",
        "nav.language": "Langue",
        "nav.skip": "Aller au contenu",
        "footer.licence": "Licence des données",
        "footer.version": "Version des données",
        "home.title": "Graphe de connaissances du Processus de Rabat",
        "home.intro": "Un graphe de connaissances du Processus de Rabat (le Dialogue euro-africain sur la "
                      "migration et le développement), domaine 5 du Plan d'action de Marrakech : ses pays "
                      "de référence, ce qu'ils ont fait et quand, les programmes et organisations concernés "
                      "et, pour chaque affirmation, la citation exacte du document d'étape dont elle vient.",
        "home.covers": "Ce que couvre le graphe",
        "home.class": "Classe",
        "home.count": "Éléments",
        "home.triples": "triplets",
        "home.browse": "Parcourir par classe",
        "home.search": "Rechercher",
        "home.tools": "Interroger et télécharger",
        "home.editor": "Écrire du SPARQL dans l'éditeur de requêtes",
        "home.stored": "Lancer une requête enregistrée (questions de compétence)",
        "home.ontology": "Lire l'ontologie",
        "home.validation": "Voir le rapport de validation SHACL en direct",
        "home.dumps": "Télécharger tout le graphe",
        "home.void": "Description du jeu de données (VoID et DCAT)",
        "map.title": "Carte des partenaires et des pays référents du Processus de Rabat",
        "map.heading": "Partenaires et pays référents",
        "map.partner": "partenaire",
        "map.observer": "observateur",
        "map.reference": "pays référent d'un domaine",
        "map.reference_of": "pays référent du",
        "map.domain": "Domaine {n}",
        "map.activities": "{n} activités dans le graphe",
        "map.focus": "ce pays",
        "map.counts": "{partners} pays partenaires et {observers} pays observateurs dans le graphe ; "
                      "en bleu foncé, les pays référents des domaines du plan d'action.",
        "map.by_domain": "Pays référents par domaine",
        "map.missing": "Absents de la carte (ni forme ni code)",
        "map.shapes": "Formes : Natural Earth, via world-atlas.",
        "map.country_heading": "Sur la carte",
        "map.country_activities": "Activités dans le graphe",
        "search.placeholder": "Rechercher dans les libellés en français ou en anglais",
        "search.button": "Rechercher",
        "search.title": "Recherche",
        "search.results": "Résultats",
        "search.none": "Aucun résultat.",
        "search.for": "Résultats pour",
        "search.in_class": "Classe",
        "search.all_classes": "toutes les classes",
        "search.truncated": "Seuls les {n} premiers résultats sont affichés.",
        "entity.iri": "IRI",
        "entity.copy": "Copier",
        "entity.copied": "Copié",
        "entity.types": "Types",
        "entity.labels": "Libellés dans toutes les langues",
        "entity.fallback": "Pas de libellé en {want} ; affiché en {got}.",
        "entity.no_label": "Cet élément n'a pas de libellé.",
        "entity.properties": "Affirmations",
        "entity.property": "Propriété",
        "entity.value": "Valeur",
        "entity.incoming": "Liens vers cet élément",
        "entity.incoming_more": "{shown} sur {total} affichés.",
        "entity.incoming_capped": "Les liens entrants sont limités à {n}.",
        "entity.show_all": "Tout afficher",
        "entity.quoted_as_object": "Énoncés cités dont cet élément est l'objet",
        "entity.quoted_as_subject": "Énoncés cités portant sur cet élément",
        "entity.provenance": "D'où cela vient",
        "entity.quote": "Citation",
        "entity.source": "Source",
        "entity.supports": "Fonde les énoncés",
        "entity.this": "ceci",
        "entity.identifiers": "Identifiants",
        "entity.in_document": "dans",
        "entity.ref_source": "Source de référence",
        "entity.timeline": "Chronologie",
        "entity.timeline_query": "Ouvrir la requête de la chronologie dans l'éditeur",
        "entity.date": "Date",
        "entity.activity": "Activité",
        "entity.download": "Télécharger cette description",
        "entity.query": "Ouvrir la requête de cette page dans l'éditeur",
        "entity.cite": "Citer",
        "entity.accessed": "consulté le",
        "entity.conformance": "Conformité SHACL",
        "entity.conforms": "Conforme aux formes",
        "entity.violations": "{n} problème(s) relevé(s) par les formes",
        "entity.validation_unavailable": "Rapport de validation indisponible",
        "entity.see_report": "rapport complet",
        "ontology.title": "Ontologie",
        "ontology.classes": "Classes",
        "ontology.properties": "Propriétés",
        "ontology.contents": "Sommaire",
        "ontology.undrawn": "Propriétés sans domaine ou co-domaine déclaré (non dessinées)",
        "ontology.diagram": "Les classes et leurs relations",
        "ontology.diagram_note": "Les boîtes sont les classes ; une flèche va du domaine d'une propriété "
                                 "à son co-domaine, une flèche ouverte d'une classe à sa super-classe.",
        "ontology.domain": "Domaine",
        "ontology.range": "Portée",
        "ontology.super_class": "Sous-classe de",
        "ontology.super_property": "Sous-propriété de",
        "ontology.inverse": "Inverse de",
        "ontology.definition": "Définition",
        "ontology.download": "Télécharger l'ontologie",
        "ontology.metadata": "À propos de cette ontologie",
        "ontology.version": "Version",
        "ontology.licence": "Licence",
        "ontology.prefix": "Préfixe préféré",
        "ontology.namespace": "Espace de noms",
        "ontology.other_props": "Autres types de propriétés",
        "shapes.title": "Formes SHACL",
        "shapes.target": "Classe cible",
        "shapes.path": "Chemin",
        "shapes.constraints": "Contraintes",
        "shapes.message": "Message",
        "shapes.download": "Télécharger les formes",
        "validation.title": "Rapport de validation",
        "validation.conforms": "Les données sont conformes aux formes.",
        "validation.not_conforms": "Les données ne sont pas conformes aux formes : {n} résultat(s).",
        "validation.focus": "Nœud focal",
        "validation.severity": "Gravité",
        "validation.shape": "Forme",
        "validation.component": "Contrainte",
        "validation.download": "Télécharger le rapport",
        "validation.version": "Rapport pour la version des données",
        "validation.validated_at_load": "Cette version a été validée par les formes à son chargement "
                                        "et elle est conforme.",
        "dumps.title": "Téléchargements",
        "error.title": "Erreur",
        "error.not_found": "Introuvable",
        "error.not_found_text": "Il n'y a rien ici. L'adresse est peut-être mal saisie, "
                                "ou l'élément n'est pas dans ce graphe.",
        "error.back": "Retour à l'accueil",
    },
}

# Labels of the standard terms our pages show often (our own terms take theirs from the ontology).
_RDF, _RDFS, _OWL, _SKOS, _DCT, _OA, _SCHEMA, _PROV = (
    STANDARD_PREFIXES[p] for p in ("rdf", "rdfs", "owl", "skos", "dcterms", "oa", "schema", "prov"))
STANDARD_LABELS: dict[str, tuple[str, str]] = {
    _RDF + "type": ("type", "type"),
    _RDF + "Statement": ("statement", "énoncé"),
    _RDF + "subject": ("subject", "sujet"),
    _RDF + "predicate": ("predicate", "prédicat"),
    _RDF + "object": ("object", "objet"),
    _RDFS + "label": ("label", "libellé"),
    _RDFS + "comment": ("comment", "commentaire"),
    _RDFS + "seeAlso": ("see also", "voir aussi"),
    _OWL + "sameAs": ("same as", "identique à"),
    _SKOS + "prefLabel": ("preferred label", "libellé préféré"),
    _SKOS + "altLabel": ("alternative label", "autre libellé"),
    _SKOS + "definition": ("definition", "définition"),
    _SKOS + "editorialNote": ("editorial note", "note éditoriale"),
    _SKOS + "note": ("note", "note"),
    _SKOS + "inScheme": ("in scheme", "dans le schéma"),
    _SKOS + "notation": ("notation", "notation"),
    _DCT + "source": ("source", "source"),
    _DCT + "title": ("title", "titre"),
    _DCT + "date": ("date", "date"),
    _DCT + "issued": ("issued", "publié le"),
    _DCT + "modified": ("modified", "modifié le"),
    _DCT + "created": ("created", "créé le"),
    _DCT + "license": ("licence", "licence"),
    _DCT + "publisher": ("publisher", "éditeur"),
    _DCT + "creator": ("creator", "auteur"),
    _DCT + "language": ("language", "langue"),
    _DCT + "identifier": ("identifier", "identifiant"),
    _DCT + "description": ("description", "description"),
    _OA + "hasBody": ("annotation body", "corps de l'annotation"),
    _OA + "hasTarget": ("annotation target", "cible de l'annotation"),
    _OA + "hasSource": ("source document", "document source"),
    _OA + "hasSelector": ("selector", "sélecteur"),
    _OA + "exact": ("exact text", "texte exact"),
    _OA + "prefix": ("text before", "texte avant"),
    _OA + "suffix": ("text after", "texte après"),
    _OA + "motivatedBy": ("motivation", "motivation"),
    _OA + "describing": ("describing", "description"),
    _OA + "SpecificResource": ("specific resource", "ressource spécifique"),
    _OA + "TextQuoteSelector": ("text quote selector", "sélecteur de citation textuelle"),
    _SCHEMA + "sameAs": ("same as", "identique à"),
    _SCHEMA + "url": ("web address", "adresse web"),
    _PROV + "wasDerivedFrom": ("derived from", "dérivé de"),
}

LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"en": "English", "fr": "French"},
    "fr": {"en": "anglais", "fr": "français"},
}


def languages() -> list[str]:
    """The UI languages, default first (from the app config when there is one)."""
    try:
        return list(current_app.config.get("LANGUAGES") or STRINGS)
    except RuntimeError:
        return list(STRINGS)


def choose_language() -> str:
    """The reader's language for this request: ?lang=, then Accept-Language, then English."""
    if "kg_lang" in g:
        return str(g.kg_lang)
    offered = [lang for lang in languages() if lang in STRINGS]
    asked = (request.args.get("lang") or "").strip().lower()
    lang = asked if asked in offered else (request.accept_languages.best_match(offered) or DEFAULT_LANGUAGE)
    g.kg_lang = lang
    return lang


def translate(key: str, lang: str | None = None, **values: object) -> str:
    """The UI string for `key` in `lang` (English when missing), with {placeholders} filled."""
    lang = lang or choose_language()
    text = STRINGS.get(lang, {}).get(key) or STRINGS[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text


def language_name(code: str, lang: str | None = None) -> str:
    """A language code's name in the UI language (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(lang or choose_language(), {}).get(code, code)


def keep_language(href: str | None) -> str | None:
    """`href` with ?lang= added when it is a local path and this request chose its language by
    ?lang= (Accept-Language needs no help: the browser sends it with every request)."""
    if not href or not href.startswith("/") or href.startswith("//"):
        return href
    asked = (request.args.get("lang") or "").strip().lower()
    if asked not in languages() or "lang=" in href:
        return href
    path, hash_, fragment = href.partition("#")
    path += ("&" if "?" in path else "?") + "lang=" + asked
    return path + hash_ + fragment


def standard_label(iri: str, lang: str | None = None) -> str | None:
    """The label of a standard term in the UI language, or None."""
    pair = STANDARD_LABELS.get(iri)
    if pair is None:
        return None
    return pair[1] if (lang or choose_language()) == "fr" else pair[0]


def mark_language(response: Response) -> Response:
    """Content-Language and Vary: Accept-Language on a page whose text depends on the reader."""
    response.headers["Content-Language"] = choose_language()
    response.vary.add("Accept-Language")
    return response


def lang_url(code: str) -> str:
    """This page's path and query with `lang` set to `code` (a same-site relative link)."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def template_context() -> dict[str, object]:
    """What every template gets: the translator, the language and the switch links."""
    lang = choose_language()
    table = STRINGS.get(lang, {})
    fallback = STRINGS[DEFAULT_LANGUAGE]

    def t(key: str, **values: object) -> str:  # translate() with the language fixed (hot path)
        text = table.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return {"t": t, "lang": lang, "ui_languages": languages(),
            "language_name": language_name, "lang_url": lang_url}
