"""What the graph says about one entity: the one CONSTRUCT behind its data documents and page
(its statements, blank-node closure, linked labels, quotes, incoming links up to a cap), the
answer indexed for a page, and the ontology as a document.

The entity IRI is bound through `graph.intake.insert_values` after it passed `entity_ref`;
nothing from a URL is ever formatted into query text.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyoxigraph as ox

from graph.intake import insert_values
from graph.namespaces import BASE, ENTITY_TYPES, ID, KG, PREFIXES, STANDARD_PREFIXES, entity_iri

RDF, RDFS, SKOS, OA, XSD, FOAF, OWL, SCHEMA = (
    STANDARD_PREFIXES[p] for p in ("rdf", "rdfs", "skos", "oa", "xsd", "foaf", "owl", "schema"))

TYPE = RDF + "type"
LABEL_PROPERTIES = (RDFS + "label", SKOS + "prefLabel")
INCOMING_CAP = 500
TIMELINE_CAP = 200
TIMELINE_TYPES = ("country", "action", "domain", "programme")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,199}")
TERM = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")


# PREFIX declarations (graph/namespaces.py) for our own queries.
PROLOGUE = "".join(f"PREFIX {name}: <{PREFIXES[name]}>\n"
                   for name in ("rdf", "rdfs", "skos", "foaf", "oa", "kg"))

# The one query behind a data document and an entity page: a UNION of parts, each a subquery
# that binds the entity (?e) in its own VALUES block. Self-bound parts keep Oxigraph from
# evaluating a part for every entity before joining, make the incoming links' LIMIT apply to this
# entity's links only, and avoid UNIONs nested inside subqueries (Virtuoso 7 fails on a UNION of
# subqueries that themselves contain a UNION: "SQ142 Different number of ... columns").
_HASH = 'isBlank({v}) || STRSTARTS(STR({v}), CONCAT(STR(?e), "#"))'  # the entity's own nodes
_QUOTE = "?e ^oa:hasBody|kg:statedIn|^rdf:subject/^kg:supports ?q ."  # quotes about the entity
_INFERRED = "{v} rdf:subject ?e ; a ?kind . FILTER(?kind IN (kg:InferredStatement, kg:DerivedStatement))"
_PARTS: tuple[str, ...] = (
    # its statements, and those of its blank nodes and hash IRIs (two levels deep)
    "?e ?p ?o . BIND(?e AS ?s)",
    f"?e ?p1 ?s . FILTER({_HASH.format(v='?s')}) ?s ?p ?o",
    f"?e ?p1 ?b . FILTER({_HASH.format(v='?b')}) ?b ?p2 ?s . FILTER({_HASH.format(v='?s')}) ?s ?p ?o",
    # labels and types of what it links to
    "?e ?p1 ?s . FILTER(isIRI(?s)) ?s ?p ?o . FILTER(?p IN (rdfs:label, skos:prefLabel, rdf:type))",
    f"?e ?p1 ?b . FILTER({_HASH.format(v='?b')}) ?b ?p2 ?s . FILTER(isIRI(?s)) ?s ?p ?o . "
    "FILTER(?p IN (rdfs:label, rdf:type))",
    # provenance: the quotes, their target, selector and document, the statements they support
    _QUOTE + " ?q ?p ?o . BIND(?q AS ?s)",
    _QUOTE + " ?q oa:hasTarget ?s . ?s ?p ?o",
    _QUOTE + " ?q oa:hasTarget/oa:hasSelector ?s . ?s ?p ?o",
    _QUOTE + " ?q oa:hasTarget/oa:hasSource ?s . ?s ?p ?o . FILTER(?p IN (rdfs:label, rdf:type))",
    _QUOTE + " ?q kg:supports ?s . ?s ?p ?o",
    _QUOTE + " ?q kg:supports/(rdf:subject|rdf:object) ?s . FILTER(isIRI(?s)) ?s ?p ?o . "
    "FILTER(?p IN (rdfs:label, skos:prefLabel))",
    # inferred and derived statements about it (derived ones are not asserted: this is the only
    # place a page shows them), with the labels of their evidence and objects
    _INFERRED.format(v="?s") + " ?s ?p ?o",
    _INFERRED.format(v="?st") + " ?st kg:evidence|rdf:object|rdf:predicate ?s . FILTER(isIRI(?s)) "
    "?s ?p ?o . FILTER(?p IN (rdfs:label, rdf:type))",
)
_PART = "SELECT ?s ?p ?o WHERE { %s }"
_INCOMING = f"SELECT ?in ?inp ?e WHERE {{ ?in ?inp ?e }} LIMIT {INCOMING_CAP}"
_INCOMING_COUNT = "SELECT (COUNT(*) AS ?nin) WHERE { ?x ?y ?e }"
_DESCRIBE = PROLOGUE + """CONSTRUCT {
  ?s ?p ?o .
  ?in ?inp ?e .
  ?in ?inlp ?inlo .
  ?inx rdfs:label ?inxl .
  ?qq kg:supports ?in .
  ?qq rdfs:label ?ql .
  ?doc foaf:primaryTopic ?e .
  ?doc rdfs:comment ?note .
} WHERE {
  OWN_PARTS
  UNION {
    { INCOMING_PART }
    OPTIONAL { ?in ?inlp ?inlo . FILTER(?inlp IN (rdfs:label, skos:prefLabel, rdf:type,
                                                  rdf:subject, rdf:predicate, rdf:object)) }
    OPTIONAL { ?in ?inr ?inx . FILTER(?inr IN (rdf:subject, rdf:object) && isIRI(?inx))
               ?inx rdfs:label ?inxl }
    OPTIONAL { ?qq kg:supports ?in . ?qq rdfs:label ?ql }
  }
  UNION {
    { COUNT_PART }
    FILTER(?nin > CAP)
    BIND(CONCAT("Incoming links are capped: CAP of ", STR(?nin), " are in this document.") AS ?note)
  }
}""".replace("CAP", str(INCOMING_CAP))

# Dated activities and events linked to the entity, directly or through an action of a domain.
# Flat patterns (no subquery) so the engine starts from the bound entity. The classes are our
# ontology's Activity and Event and their subclasses (tests check the list against the ontology).
TIMELINE_CLASSES = ("Activity", "NationalMeasure", "Event")
_TIMELINE = PROLOGUE + """SELECT DISTINCT ?item ?dp ?date ?label WHERE {
  { ?item ?p1 ?e } UNION { ?m kg:inDomain ?e . ?item ?p2 ?m }
  ?item a ?cls . FILTER(?cls IN (%(classes)s))
  ?item ?dp ?date . FILTER(?dp IN (kg:date, kg:startDate, kg:endDate))
  OPTIONAL { ?item rdfs:label ?label }
} ORDER BY STR(?date) ?item LIMIT %(limit)d"""


@dataclass(frozen=True)
class EntityRef:
    """A validated `{type}/{slug}` and its canonical IRIs."""

    type: str
    slug: str

    @property
    def iri(self) -> str:
        return entity_iri(self.type, self.slug)

    @property
    def path(self) -> str:
        return f"{self.type}/{self.slug}"


def entity_ref(type_: str, slug: str) -> EntityRef | None:
    """The entity for a URL's type and slug, or None when either is not allowed."""
    return EntityRef(type_, slug) if type_ in ENTITY_TYPES and SLUG.fullmatch(slug) else None


def ref_for_iri(iri: str) -> EntityRef | None:
    """The entity of a canonical IRI under `{BASE}id/`, or None for any other IRI."""
    if not iri.startswith(ID):
        return None
    type_, _, slug = iri[len(ID):].partition("/")
    return entity_ref(type_, slug)


def nt_iri(iri: str) -> str:
    """An absolute IRI as an N-Triples term (ValueError for anything else)."""
    return str(ox.NamedNode(iri))


def nt_literal(text: str) -> str:
    """A plain string as an N-Triples literal."""
    return str(ox.Literal(text))


@functools.lru_cache(maxsize=4096)
def describe_query(ref: EntityRef) -> str:
    """The CONSTRUCT behind the entity's document and page, the entity bound in each part."""
    own = "\n  UNION ".join("{ " + _bound(_PART % body, ref) + " }" for body in _PARTS)
    outer = insert_values(_DESCRIBE, {"e": nt_iri(ref.iri), "doc": nt_iri(f"{BASE}doc/{ref.path}")})
    return (outer.replace("OWN_PARTS", own).replace("INCOMING_PART", _bound(_INCOMING, ref))
            .replace("COUNT_PART", _bound(_INCOMING_COUNT, ref)))


@functools.lru_cache(maxsize=4096)
def timeline_query(ref: EntityRef) -> str:
    """Dated activities and events linked to the entity (directly, or through a narrower
    plan element, e.g. an activity under an action of a domain), in date order, capped."""
    classes = ", ".join(f"kg:{c}" for c in TIMELINE_CLASSES)
    return _bound(_TIMELINE % {"classes": classes, "limit": TIMELINE_CAP + 1}, ref)


@functools.lru_cache(maxsize=4096)
def incoming_counts_query(ref: EntityRef) -> str:
    """Incoming links per property (only needed when the description was capped)."""
    return _bound("SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?e } GROUP BY ?p ORDER BY DESC(?n)", ref)


def incoming_list_query(ref: EntityRef, predicate: str) -> str:
    """Every subject linking to the entity by one property (the "show all" query)."""
    text = "SELECT ?s ?label WHERE {\n  ?s ?p ?e .\n  OPTIONAL { ?s rdfs:label ?label }\n} ORDER BY ?s"
    return _bound(PROLOGUE + text, ref, p=predicate)


def exists_query(ref: EntityRef) -> str:
    """ASK whether the entity occurs as subject or object (unknown IRIs are a 404)."""
    return _bound("ASK { { ?e ?p ?o } UNION { ?s ?p ?e } }", ref)


def _bound(text: str, ref: EntityRef, **iris: str) -> str:
    """`text` with ?e bound to the entity and each other variable to an IRI."""
    return insert_values(text, {"e": nt_iri(ref.iri), **{v: nt_iri(i) for v, i in iris.items()}})


# --- The page's view of a description ------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """An object or subject as a page shows it."""

    kind: str  # "iri" | "bnode" | "literal"
    value: str
    lang: str | None = None
    datatype: str | None = None

    @property
    def is_iri(self) -> bool:
        return self.kind == "iri"


def value_of(term: object) -> Value:
    if isinstance(term, ox.NamedNode):
        return Value("iri", term.value)
    if isinstance(term, ox.BlankNode):
        return Value("bnode", term.value)
    assert isinstance(term, ox.Literal)
    plain = term.language or term.datatype.value in (XSD + "string", RDF + "langString")
    return Value("literal", term.value, term.language or None, None if plain else term.datatype.value)


@dataclass
class Quote:
    """A kg:Quote (Web Annotation) with what it selects and what it supports."""

    node: Value
    exact: list[Value] = field(default_factory=list)
    prefix: str | None = None
    suffix: str | None = None
    sources: list[str] = field(default_factory=list)
    supports: list[tuple[str, str, Value]] = field(default_factory=list)  # (s, p, o)


@dataclass
class Inference:
    """A statement about the entity that a source implies (inferred, asserted) or that was worked
    out (derived, never asserted), with its reasoning by language and its evidence."""

    kind: str  # "inferred" or "derived"
    predicate: str
    object: Value
    reasoning: dict[str, str] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)


@dataclass
class Description:
    """The triples of one CONSTRUCT answer, indexed for a page."""

    iri: str
    by_subject: dict[str, dict[str, list[Value]]]
    incoming: dict[str, list[Value]]
    note: str | None
    supporters: dict[str, list[Value]]  # statement -> the quotes that support it

    def objects(self, subject: str, predicate: str) -> list[Value]:
        return self.by_subject.get(subject, {}).get(predicate, [])

    def labels(self, iri: str) -> dict[str, list[str]]:
        """Labels of `iri` by language tag ("" for none)."""
        out: dict[str, list[str]] = {}
        for prop in LABEL_PROPERTIES:
            for v in self.objects(iri, prop):
                if v.kind == "literal":
                    add_text(out, v.value, v.lang)
        return out

    def types(self, iri: str) -> list[str]:
        return [v.value for v in self.objects(iri, TYPE) if v.is_iri]

    @property
    def exists(self) -> bool:
        """True when the graph holds any triple with the entity as subject or object."""
        return bool(self.by_subject.get(self.iri)) or bool(self.incoming)

    def quotes(self) -> list[Quote]:
        """The quotes that state facts about the entity, in a stable order."""
        found = [*self.incoming.get(OA + "hasBody", []),
                 *(v for v in self.objects(self.iri, str(KG) + "statedIn") if v.kind != "literal"),
                 *(q for st, quotes in self.supporters.items() for q in quotes
                   if any(v.value == self.iri for v in self.objects(st, RDF + "subject")))]
        if str(KG) + "Quote" in self.types(self.iri):
            found.append(Value("iri", self.iri))
        by_term = {f"<{v.value}>" if v.is_iri else f"_:{v.value}": v for v in found}  # N-Triples order
        return [self._quote(by_term[k]) for k in sorted(by_term)]

    def statement(self, node: str) -> tuple[Value | None, Value | None, Value | None]:
        """What a reified statement says: its first subject, predicate and object (None if absent)."""
        s, p, o = (self.objects(node, RDF + n) for n in ("subject", "predicate", "object"))
        return s[0] if s else None, p[0] if p else None, o[0] if o else None

    def inferences(self) -> list[Inference]:
        """Inferred and derived statements about the entity, derived ones first."""
        kinds = {str(KG) + "InferredStatement": "inferred", str(KG) + "DerivedStatement": "derived"}
        out = []
        for node, props in self.by_subject.items():
            kind = next((kinds[t.value] for t in props.get(TYPE, []) if t.value in kinds), None)
            subj, pred, obj = self.statement(node)
            if kind is None or not (subj and pred and obj) or subj.value != self.iri:
                continue
            out.append(Inference(
                kind, pred.value, obj,
                {v.lang or "": v.value for v in props.get(str(KG) + "reasoning", []) if v.kind == "literal"},
                sorted(v.value for v in props.get(str(KG) + "evidence", []) if v.is_iri)))
        return sorted(out, key=lambda i: (i.kind != "derived", i.predicate, i.object.value))

    def _quote(self, node: Value) -> Quote:
        q = Quote(node=node)
        for target in self.objects(node.value, OA + "hasTarget"):
            for src in self.objects(target.value, OA + "hasSource"):
                if src.is_iri and src.value not in q.sources:
                    q.sources.append(src.value)
            for sel in self.objects(target.value, OA + "hasSelector"):
                q.exact.extend(self.objects(sel.value, OA + "exact"))
                q.prefix = q.prefix or next((v.value for v in self.objects(sel.value, OA + "prefix")), None)
                q.suffix = q.suffix or next((v.value for v in self.objects(sel.value, OA + "suffix")), None)
        for st in self.objects(node.value, str(KG) + "supports"):
            subj, pred, obj = self.statement(st.value)
            if subj and pred and obj:
                q.supports.append((subj.value, pred.value, obj))
        q.supports.sort(key=lambda t: (t[0] != self.iri, t[1], t[2].value))
        return q


def parse_description(iri: str, ntriples: bytes) -> Description:
    """Index a CONSTRUCT answer (N-Triples) for a page."""
    by_subject: dict[str, dict[str, list[Value]]] = defaultdict(lambda: defaultdict(list))
    incoming: dict[str, list[Value]] = defaultdict(list)
    supporters: dict[str, list[Value]] = defaultdict(list)
    note = None
    # dict.fromkeys: engines may repeat a constructed triple
    for t in dict.fromkeys(q.triple for q in ox.parse(ntriples, format=ox.RdfFormat.N_TRIPLES)):
        s, p = t.subject.value, t.predicate.value
        if s.startswith(BASE + "doc/") and p in (RDFS + "comment", FOAF + "primaryTopic"):
            if p == RDFS + "comment":
                note = t.object.value
            continue
        o = value_of(t.object)
        by_subject[s][p].append(o)
        if p == str(KG) + "supports" and o.kind != "literal":
            supporters[o.value].append(value_of(t.subject))
        if o.kind == "iri" and o.value == iri and s != iri:
            incoming[p].append(value_of(t.subject))
    return Description(iri=iri, by_subject=by_subject, note=note, supporters=supporters,
                       incoming={p: sorted(vs, key=lambda v: v.value) for p, vs in incoming.items()})


def pick_label(labels: Mapping[str, Iterable[str]], lang: str) -> tuple[str, str] | None:
    """(label, language) in `lang`, else in English, French or no language, else any label."""
    for code in (lang, "en", "fr", "", *sorted(labels)):
        values = list(labels.get(code, ()))
        if values:
            return values[0], code
    return None


def label_in(labels: Mapping[str, Iterable[str]], lang: str) -> str | None:
    """The label `pick_label` picks, without its language."""
    picked = pick_label(labels, lang)
    return picked[0] if picked else None


@dataclass(frozen=True)
class TimelineItem:
    """A dated activity or event, its dates exactly as the source gives them."""

    iri: str
    labels: dict[str, list[str]]
    date: str | None
    start: str | None
    end: str | None


def add_text(by_lang: dict[str, list[str]], text: str, lang: str | None) -> None:
    """Add `text` under its language tag ("" for none), once."""
    values = by_lang.setdefault(lang or "", [])
    if text not in values:
        values.append(text)


def timeline_items(rows: list[dict[str, dict[str, str]]]) -> tuple[list[TimelineItem], bool]:
    """Group timeline rows by item; (items in date order, True when the cap was reached)."""
    dates: dict[str, dict[str, str]] = defaultdict(dict)
    labels: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for row in rows[:TIMELINE_CAP]:
        item = row["item"]["value"]
        dates[item].setdefault(row["dp"]["value"].rsplit("/", 1)[-1], row["date"]["value"])
        if "label" in row:
            add_text(labels[item], row["label"]["value"], row["label"].get("xml:lang"))
    items = [TimelineItem(iri=i, labels=labels[i], date=dates[i].get("date"),
                          start=dates[i].get("startDate"), end=dates[i].get("endDate"))
             for i in dates]
    items.sort(key=lambda it: (it.date or it.start or it.end or "", it.iri))
    return items, len(rows) > TIMELINE_CAP


def local_name(iri: str) -> str:
    """The last segment of an IRI (after #, / or :)."""
    for sep in ("#", "/", ":"):
        if sep in iri.rstrip(sep):
            return iri.rstrip(sep).rsplit(sep, 1)[-1]
    return iri


# --- The ontology and the shapes as documents -------------------------------------------------------


@dataclass
class Term:
    """A class or property of the ontology, with everything its documentation shows."""

    iri: str
    name: str
    kinds: list[str] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)
    definitions: dict[str, list[str]] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    supers: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    inverse: list[str] = field(default_factory=list)

    @property
    def is_class(self) -> bool:
        return any(k in (OWL + "Class", RDFS + "Class") for k in self.kinds)

    @property
    def is_property(self) -> bool:
        return any(k in (OWL + "ObjectProperty", OWL + "DatatypeProperty", OWL + "AnnotationProperty",
                         RDF + "Property") for k in self.kinds)


@dataclass
class Ontology:
    """The ontology file, indexed: header and terms of our namespace."""

    iri: str
    header: dict[str, list[Value]]
    terms: dict[str, Term]

    @property
    def classes(self) -> dict[str, Term]:
        return {i: t for i, t in self.terms.items() if t.is_class}

    @property
    def properties(self) -> dict[str, Term]:
        return {i: t for i, t in self.terms.items() if t.is_property}

    @property
    def version(self) -> str | None:
        """The last segment of the owl:versionIRI (`{KG}0.1.0` -> "0.1.0"), when it is ours."""
        iris = [v.value for v in self.header.get(OWL + "versionIRI", []) if v.is_iri]
        if iris and iris[0].startswith(str(KG)):
            return iris[0][len(str(KG)):] or None
        return None

    def label(self, iri: str, lang: str) -> str | None:
        return label_in(self.terms[iri].labels, lang) if iri in self.terms else None


def read_ontology(triples: Iterable[ox.Triple]) -> Ontology:
    """Index the ontology's triples: terms of our namespace and the owl:Ontology header."""
    by_subject: dict[str, dict[str, list[Value]]] = defaultdict(lambda: defaultdict(list))
    for t in triples:
        if isinstance(t.subject, ox.NamedNode):
            by_subject[t.subject.value][t.predicate.value].append(value_of(t.object))
    header_iri = next((s for s, props in by_subject.items()
                       if any(v.value == OWL + "Ontology" for v in props.get(TYPE, []))), BASE + "def")
    terms: dict[str, Term] = {}
    for s, props in by_subject.items():
        if not s.startswith(str(KG)) or not TERM.fullmatch(s[len(str(KG)):]):
            continue
        term = Term(iri=s, name=s[len(str(KG)):])
        texts = {RDFS + "label": term.labels, SKOS + "definition": term.definitions,
                 RDFS + "comment": term.comments}
        iris = {TYPE: term.kinds, RDFS + "subClassOf": term.supers, RDFS + "subPropertyOf": term.supers,
                RDFS + "domain": term.domains, RDFS + "range": term.ranges, OWL + "inverseOf": term.inverse}
        for p, values in props.items():
            for v in values:
                if p in texts:
                    add_text(texts[p], v.value, v.lang)
                elif p in iris:
                    iris[p].append(v.value)
        for found in iris.values():
            found.sort()
        terms[s] = term
    return Ontology(iri=header_iri, header=dict(by_subject.get(header_iri, {})), terms=terms)


def parse_turtle_file(path: str) -> list[ox.Triple]:
    """The triples of a Turtle file (our own ontology or shapes), with the engine's parser."""
    return [q.triple for q in ox.parse(path=path, format=ox.RdfFormat.TURTLE)]
