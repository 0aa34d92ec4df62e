"""The bundled graph: it conforms, it covers the whole progress paper, and nothing lacks a source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS
from rdflib.term import Node

from graph.namespaces import ENTITY_TYPES, ID, KG
from graph.paths import AUTHORING_SUFFIX, SOURCES_DIR, bundled_sources, data_files
from graph.release import file_ntriples, make_release, parse_file
from graph.validate import validate_ntriples

# The paper as extracted from its PDF, byte for byte, beside its authoring file: every oa:exact is
# checked against it (by the compiler, and here again on the built graph).
PAPER_FILE = SOURCES_DIR / "progress-paper-domain5.txt"
ROOT = SOURCES_DIR.parent.parent

OA = "http://www.w3.org/ns/oa#"
DCT_SOURCE = URIRef("http://purl.org/dc/terms/source")
STATED_IN = URIRef(str(KG) + "statedIn")
SUPPORTS = URIRef(str(KG) + "supports")
EVIDENCE = URIRef(str(KG) + "evidence")
DERIVED = URIRef(str(KG) + "DerivedStatement")
INFERRED = URIRef(str(KG) + "InferredStatement")
PAPER_DOC = URIRef(ID + "document/progress-paper-domain5")

# Lines of the paper that state nothing, each with the reason it needs no quote.
IGNORED_UNITS = {
    "PROGRESS": "a section heading; the section's content is quoted item by item",
    "* * * * * * * * *": "a typographic separator",
    "and Mobility Dialogue (MMD)": "the end of the MMD programme's name, split off by PDF "
                                   "extraction; its \"MMD\" abbreviates the Dialogue, so it states "
                                   "nothing about the programme",
    "ion and integration": "a fragment left by PDF extraction; it states nothing",
}
# Lines that continue the previous one (a title wrapped over two lines in the PDF).
CONTINUATIONS = {
    "(in particular through regional consultations)": "the second line of Action 20's title",
}
# Predicates that are bookkeeping, not facts: they need no reified backing statement.
EXEMPT_PREDICATES = {
    RDF.type, RDFS.label, STATED_IN, DCT_SOURCE, URIRef(str(KG) + "confidence"),
    URIRef("http://www.w3.org/2004/02/skos/core#editorialNote"),
}
TYPE_CLASSES = {
    "dialogue": {"Dialogue"}, "action-plan": {"ActionPlan"}, "domain": {"Domain"},
    "objective": {"Objective"}, "action": {"Action"}, "priority": {"Priority"},
    "country": {"Country"}, "organisation": {"Organisation"}, "programme": {"Programme"},
    "activity": {"Activity", "NationalMeasure"}, "event": {"Event", "SuggestedEvent"},
    "document": {"Document", "ProgressPaper", "OutcomeDocument"},
    "finding": {"Finding", "SuccessFactor", "Benefit"}, "mechanism": {"Mechanism"},
    "quote": {"Quote"},
}
WIKIDATA_ALLOWED = {  # the only QIDs the reference file verifies
    "country/cameroon": "Q1009", "country/togo": "Q945", "country/france": "Q142",
    "country/morocco": "Q1028", "organisation/european-union": "Q458",
}


def normalise(text: str) -> str:
    return " ".join(text.split())


def paper_text() -> str:
    return normalise(PAPER_FILE.read_text(encoding="utf-8"))


def paper_units() -> list[str]:
    """Each line of the paper, bullet marks stripped, wrapped titles joined."""
    units: list[str] = []
    for line in PAPER_FILE.read_text(encoding="utf-8").splitlines():
        unit = re.sub(r"^(?:(?:-|✓|→)\s+)+", "", normalise(line))
        if not unit or unit in IGNORED_UNITS:
            continue
        if unit in CONTINUATIONS:
            units[-1] = f"{units[-1]} {unit}"
            continue
        units.append(unit)
    return units


@pytest.fixture(scope="module")
def graph() -> Graph:
    release = make_release(bundled_sources(), validate=False)
    return Graph(bind_namespaces="none").parse(data=release.ntriples, format="nt")


@pytest.fixture(scope="module")
def exacts(graph: Graph) -> dict[str, list[Node]]:
    """oa:exact text -> the quotes whose selector holds it."""
    found: dict[str, list[Node]] = {}
    for quote in graph.subjects(RDF.type, URIRef(str(KG) + "Quote")):
        target = graph.value(quote, URIRef(OA + "hasTarget"))
        selector = graph.value(target, URIRef(OA + "hasSelector"))
        exact = graph.value(selector, URIRef(OA + "exact"))
        found.setdefault(str(exact), []).append(quote)
    return found


# --- Conformance --------------------------------------------------------------------------------

def test_bundled_graph_conforms() -> None:
    result = validate_ntriples(make_release(bundled_sources(), validate=False).ntriples)
    assert result.conforms, result.text
    assert result.violations == []


def test_cli_validate_exits_zero() -> None:
    proc = subprocess.run([sys.executable, "-m", "server.cli", "validate"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Conforms" in proc.stdout


def test_cli_validate_reports_violation_by_focus_node(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text(
        "@prefix kg: <https://w3id.org/rabat-kg/def/> .\n"
        "<https://w3id.org/rabat-kg/id/activity/broken> a kg:Activity .\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "server.cli", "validate", "--data", str(bad)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Focus node activity:broken" in proc.stdout
    assert "kgsh:Activity-countryOrBody" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("path", data_files(), ids=lambda p: p.name)
def test_data_file_parses_with_both_parsers_and_has_no_blank_nodes(path: Path) -> None:
    triples = parse_file(path)
    assert triples, f"{path.name} is empty"
    blank = [t for t in triples if isinstance(t.subject, ox.BlankNode) or isinstance(t.object, ox.BlankNode)]
    assert not blank, f"{path.name}: blank nodes make releases differ from run to run: {blank[:3]}"
    rdflib_format = "trig" if path.name.endswith(AUTHORING_SUFFIX) else "turtle"
    parsed = Graph().parse(path, format=rdflib_format) if rdflib_format == "turtle" else \
        Graph().parse(data=file_ntriples(path), format="nt")
    assert len(parsed) == len(set(triples))


# --- The paper is covered, and quoted exactly ---------------------------------------------------

def test_paper_units_are_found() -> None:
    units = paper_units()
    assert len(units) > 30  # the splitter sees the paper, not an empty file
    assert any(u.startswith("Action 20:") and u.endswith("regional consultations)") for u in units)


@pytest.mark.parametrize("unit", paper_units())
def test_every_sentence_of_the_paper_is_a_quote(unit: str, exacts: dict[str, list[Node]]) -> None:
    assert unit in exacts, f"no quote has oa:exact {unit!r}"


def test_every_exact_is_a_substring_of_the_paper(exacts: dict[str, list[Node]]) -> None:
    text = paper_text()
    missing = [e for e in exacts if e not in text]
    assert not missing, f"oa:exact not in the paper: {missing}"


def test_repeated_exacts_are_disambiguated(graph: Graph, exacts: dict[str, list[Node]]) -> None:
    text = paper_text()
    for exact, quotes in exacts.items():
        if text.count(exact) == 1:
            continue
        contexts = []
        for quote in quotes:
            selector = graph.value(graph.value(quote, URIRef(OA + "hasTarget")), URIRef(OA + "hasSelector"))
            prefix = str(graph.value(selector, URIRef(OA + "prefix")) or "")
            suffix = str(graph.value(selector, URIRef(OA + "suffix")) or "")
            context = prefix + exact + suffix
            assert text.count(context) == 1, f"{quote}: {context!r} does not pick one place"
            contexts.append(context)
        assert len(set(contexts)) == len(contexts), f"two quotes select the same {exact!r}"


def test_every_quote_targets_the_paper(graph: Graph) -> None:
    for quote in graph.subjects(RDF.type, URIRef(str(KG) + "Quote")):
        target = graph.value(quote, URIRef(OA + "hasTarget"))
        assert graph.value(target, URIRef(OA + "hasSource")) == PAPER_DOC, quote


def test_cameroon_and_togo_blocks_match_the_paper(graph: Graph) -> None:
    """As many national measures per country as the paper has bullets in its block."""
    lines = PAPER_FILE.read_text(encoding="utf-8").splitlines()
    blocks = [i for i, line in enumerate(lines) if line.strip() == "Implementation at national level"]
    assert len(blocks) == 2
    def bullets(start: int) -> int:
        n = 0
        for line in lines[start + 1:]:
            if line.strip().startswith("- "):
                n += 1
            elif n and not line.strip():
                break
        return n
    measure = URIRef(str(KG) + "NationalMeasure")
    for country, start in (("cameroon", blocks[0]), ("togo", blocks[1])):
        found = {a for a in graph.subjects(URIRef(str(KG) + "country"), URIRef(ID + f"country/{country}"))
                 if (a, RDF.type, measure) in graph}
        assert len(found) == bullets(start), country


def test_every_success_factor_of_the_paper_is_a_finding(graph: Graph) -> None:
    unit = next(u for u in paper_units() if u.startswith("Identified success factors"))
    factors = [f.strip().rstrip(".") for f in unit.split(":", 1)[1].split(";")]
    labels = {str(lbl).lower() for f in graph.subjects(RDF.type, URIRef(str(KG) + "SuccessFactor"))
              for lbl in graph.objects(f, RDFS.label) if getattr(lbl, "language", None) == "en"}
    assert len(factors) == 5
    assert {f.lower() for f in factors} == labels


# --- Provenance ---------------------------------------------------------------------------------

def _statements(graph: Graph) -> list[tuple[Node, tuple]]:
    return [(st, (graph.value(st, RDF.subject), graph.value(st, RDF.predicate), graph.value(st, RDF.object)))
            for st in graph.subjects(RDF.type, RDF.Statement)]


def test_every_reified_statement_is_asserted(graph: Graph) -> None:
    """Except derived ones, which are never asserted."""
    missing = [(str(st), triple) for st, triple in _statements(graph)
               if triple not in graph and (st, RDF.type, DERIVED) not in graph]
    assert not missing, f"reified statements whose triple is not in the graph: {missing}"


def test_no_derived_statement_is_asserted(graph: Graph) -> None:
    derived = [(st, triple) for st, triple in _statements(graph) if (st, RDF.type, DERIVED) in graph]
    assert len(derived) >= 38  # Actions 1-14, 18-19, 21-23: objective and domain
    asserted = [str(st) for st, triple in derived if triple in graph]
    assert not asserted, f"derived statements readable as facts: {asserted}"


def test_action_20_has_no_objective_and_a_derived_domain(graph: Graph) -> None:
    """No source states Action 20's objective; its domain is derived from the paper and the counts."""
    action20 = URIRef(ID + "action/20")
    assert (action20, URIRef(str(KG) + "underObjective"), None) not in graph
    assert (action20, URIRef(str(KG) + "inDomain"), None) not in graph
    domain = [st for st, (s, p, _o) in _statements(graph)
              if s == action20 and p == URIRef(str(KG) + "inDomain")]
    assert domain and all((st, RDF.type, DERIVED) in graph for st in domain)
    assert (action20, DCT_SOURCE, None) not in graph  # its title is known only from the paper


def test_layout_inferences_are_asserted_with_their_evidence(graph: Graph) -> None:
    """Togo's measures: the words do not name Togo, so no quote claims to state it; an inference does."""
    togo = URIRef(ID + "country/togo")
    country = URIRef(str(KG) + "country")
    inferred = {s for st, (s, p, o) in _statements(graph)
                if (st, RDF.type, INFERRED) in graph and p == country and o == togo}
    assert len(inferred) == 4
    for st, (s, p, o) in _statements(graph):
        if p == country and o == togo and s in inferred:
            assert (s, p, o) in graph
            assert (None, SUPPORTS, st) not in graph, f"{st}: a quote claims to state Togo"
            if (st, RDF.type, INFERRED) in graph:
                assert (st, EVIDENCE, None) in graph and (st, URIRef(str(KG) + "reasoning"), None) in graph


def test_every_reified_statement_is_backed(graph: Graph) -> None:
    for st, _ in _statements(graph):
        assert ((None, SUPPORTS, st) in graph or (st, DCT_SOURCE, None) in graph
                or (st, EVIDENCE, None) in graph), st


def test_quote_bodies_are_the_subjects_they_describe(graph: Graph) -> None:
    """oa:hasBody covers the subjects of the supported statements; kg:statedIn is its inverse."""
    has_body = URIRef(OA + "hasBody")
    for quote in graph.subjects(RDF.type, URIRef(str(KG) + "Quote")):
        bodies = set(graph.objects(quote, has_body))
        subjects = {graph.value(st, RDF.subject) for st in graph.objects(quote, SUPPORTS)}
        assert subjects <= bodies, f"{quote}: statements about {subjects - bodies} not in its body"
    assert set(graph.subject_objects(STATED_IN)) == {(b, q) for q, b in graph.subject_objects(has_body)}


def _is_bookkeeping(graph: Graph, node: URIRef) -> bool:
    """Ontology terms, quotes and their parts, and reified statements carry no source themselves."""
    kinds = set(graph.objects(node, RDF.type))
    return bool(kinds & {OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.Ontology, RDF.Statement,
                         URIRef(str(KG) + "Quote"), URIRef(OA + "SpecificResource"),
                         URIRef(OA + "TextQuoteSelector")})


def test_nothing_lacks_a_source(graph: Graph) -> None:
    unsourced = sorted(
        str(s) for s in set(graph.subjects())
        if isinstance(s, URIRef) and not _is_bookkeeping(graph, s)
        and (s, STATED_IN, None) not in graph and (s, DCT_SOURCE, None) not in graph)
    assert not unsourced, f"subjects with neither kg:statedIn nor dcterms:source: {unsourced}"


def test_every_fact_of_a_quoted_entity_is_backed(graph: Graph) -> None:
    """An entity stated in the paper: each of its facts is backed by a quote or a reified source."""
    backed = set()
    for st, triple in _statements(graph):
        if (None, SUPPORTS, st) in graph or (st, DCT_SOURCE, None) in graph or (st, EVIDENCE, None) in graph:
            backed.add(triple)
    unbacked = []
    for entity in set(graph.subjects(STATED_IN, None)):
        for p, o in graph.predicate_objects(entity):
            if p in EXEMPT_PREDICATES:
                continue
            if isinstance(o, Literal) and o.language == "fr" and any(
                    (entity, p, en) in backed for en in graph.objects(entity, p)
                    if isinstance(en, Literal) and en.language == "en"):
                continue  # the French translation of a backed English value
            if (entity, p, o) not in backed:
                unbacked.append((str(entity), str(p), str(o)))
    assert not unbacked, f"facts of quoted entities with no backing statement: {sorted(unbacked)}"


def test_sources_are_web_addresses(graph: Graph) -> None:
    for _, source in graph.subject_objects(DCT_SOURCE):
        assert isinstance(source, URIRef) and str(source).startswith(("https://", "http://")), source


# --- Identity -----------------------------------------------------------------------------------

def test_entity_iris_follow_the_scheme_and_their_type(graph: Graph) -> None:
    pattern = re.compile(r"^" + re.escape(ID) + r"([a-z-]+)/([a-z0-9]+(?:-[a-z0-9]+)*)(#[A-Za-z0-9-]+)?$")
    for s in set(graph.subjects()):
        if not str(s).startswith(ID):
            continue
        m = pattern.match(str(s))
        assert m, f"{s} does not follow {ID}{{type}}/{{slug}}"
        type_, _, fragment = m.groups()
        assert type_ in ENTITY_TYPES, s
        if fragment:
            continue
        classes = {str(c)[len(str(KG)):] for c in graph.objects(s, RDF.type) if str(c).startswith(str(KG))}
        assert classes & TYPE_CLASSES[type_], f"{s} is typed {classes}, expected one of {TYPE_CLASSES[type_]}"


def test_wikidata_links_only_where_verified(graph: Graph) -> None:
    found = {}
    for s, p, o in graph:
        if str(o).startswith("http://www.wikidata.org/entity/") and p != RDF.object:
            found[str(s)[len(ID):]] = str(o).rsplit("/", 1)[1]
    assert found == WIKIDATA_ALLOWED


def test_every_entity_has_an_english_and_a_french_label(graph: Graph) -> None:
    for s in {s for s in graph.subjects() if str(s).startswith(ID) and "#" not in str(s)}:
        for lang in ("en", "fr"):
            labels = [lbl for lbl in graph.objects(s, RDFS.label) if getattr(lbl, "language", None) == lang]
            assert len(labels) == 1, f"{s}: {lang} labels {labels}"


def test_french_country_names_cite_iso_3166_or_the_dialogue(graph: Graph) -> None:
    """Each French country name is reified with the iso-codes source, or is the Dialogue's own."""
    iso = "https://salsa.debian.org/iso-codes-team/iso-codes/"
    fr_page = URIRef("https://rabat-process.org/fr/a-propos/pays-referents")
    sourced = {triple for st, triple in _statements(graph)
               if any(str(src).startswith(iso) for src in graph.objects(st, DCT_SOURCE))}
    countries = set(graph.subjects(RDF.type, URIRef(str(KG) + "Country")))
    assert len(countries) == 57
    for country in countries:
        french = [lbl for lbl in graph.objects(country, RDFS.label) if getattr(lbl, "language", None) == "fr"]
        assert (country, RDFS.label, french[0]) in sourced or (country, DCT_SOURCE, fr_page) in graph, country


def test_instances_carry_all_their_kg_classes(graph: Graph) -> None:
    """The store has no reasoner: a national measure is also typed kg:Activity, and so on."""
    kg_classes = {c for c in graph.subjects(RDF.type, OWL.Class) if str(c).startswith(str(KG))}
    missing = []
    for s, cls in graph.subject_objects(RDF.type):
        if cls not in kg_classes or not str(s).startswith(ID):
            continue
        for sup in graph.transitive_objects(cls, RDFS.subClassOf):
            if sup in kg_classes and (s, RDF.type, sup) not in graph:
                missing.append((str(s), str(sup)))
    assert not missing, f"instances missing a kg: superclass type: {sorted(missing)}"


# --- The validation report ----------------------------------------------------------------------

BROKEN_NT = (
    b"<https://w3id.org/rabat-kg/id/country/atlantis> "
    b"<http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://w3id.org/rabat-kg/def/Country> .\n"
    b"<https://w3id.org/rabat-kg/id/country/atlantis> "
    b"<https://w3id.org/rabat-kg/def/iso3166Alpha2> \"at\" .\n"
)


def test_validate_ntriples_reports_each_violation() -> None:
    from graph.validate import validate_ntriples

    result = validate_ntriples(BROKEN_NT)
    assert not result.conforms
    by_shape = {v.shape: v for v in result.violations}
    iso = by_shape["kgsh:Country-iso3166Alpha2"]
    assert (iso.focus, iso.path, iso.value, iso.severity) == (
        "country:atlantis", "kg:iso3166Alpha2", '"at"', "Violation")
    assert iso.component == "sh:PatternConstraintComponent"
    assert iso.message.startswith("A country needs exactly one ISO 3166-1 alpha-2 code")
    assert {"kgsh:Country-label", "kgsh:Country-source", "kgsh:Country-iso3166Alpha3"} <= set(by_shape)
    report = Graph().parse(data=result.report_turtle, format="turtle")
    shacl = "http://www.w3.org/ns/shacl#"
    assert (None, RDF.type, URIRef(shacl + "ValidationReport")) in report
    assert (None, URIRef(shacl + "conforms"), Literal(False)) in report


def test_validation_text_is_grouped_by_focus_node() -> None:
    from graph.validate import validate_ntriples

    text = validate_ntriples(BROKEN_NT).text
    lines = text.splitlines()
    assert lines[0].startswith("Does not conform: ")
    assert lines.count("Focus node country:atlantis") == 1
    start = lines.index("Focus node country:atlantis")
    block = lines[start + 1:]
    assert block[0].startswith("  path ")
    assert "  path kg:iso3166Alpha2 = \"at\"" in block
    assert any(ln.strip().startswith("shape kgsh:Country-iso3166Alpha2") for ln in block)


def test_empty_graph_conforms() -> None:
    """Only the ontology: its own terms satisfy the term shape."""
    from graph.validate import validate_ntriples

    assert validate_ntriples(b"").conforms


# --- Hygiene rules (queries/checks/*.rq) ------------------------------------------------------

_X = "<https://w3id.org/rabat-kg/id/activity/breach>"
_K = "https://w3id.org/rabat-kg/def/"
_R = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_L = "<http://www.w3.org/2000/01/rdf-schema#label>"
# Each rule with a small breach of it, added to the bundled graph: the rule must report it.
BREACHES = {
    "unsourced-assertions": f'{_X} <{_K}topic> "unsourced"@en .\n',
    "derived-statements-asserted": (
        f"<{ID}action/1#underObjective> <{_R}type> <{_K}DerivedStatement> .\n"
        f"<{ID}action/1> <{_K}underObjective> <{ID}objective/1> .\n"),
    "reified-statements-not-asserted": (
        f"{_X[:-1]}#st> <{_R}type> <{_R}Statement> .\n{_X[:-1]}#st> <{_R}subject> {_X} .\n"
        f"{_X[:-1]}#st> <{_R}predicate> <{_K}topic> .\n{_X[:-1]}#st> <{_R}object> \"never asserted\"@en .\n"),
    "quotes-not-verbatim": (
        f"<{ID}quote/breach> <{_R}type> <{_K}Quote> .\n"
        f"<{ID}quote/breach> <http://www.w3.org/ns/oa#hasTarget> <{ID}quote/breach#target> .\n"
        f"<{ID}quote/breach#target> <http://www.w3.org/ns/oa#hasSelector> <{ID}quote/breach#selector> .\n"
        f'<{ID}quote/breach#selector> <http://www.w3.org/ns/oa#exact> "two  spaces" .\n'),
    "entities-not-bilingual": f'{_X} <{_R}type> <{_K}Activity> .\n{_X} {_L} "English only"@en .\n',
    "labels-contradicting-dates": (
        f'{_X} {_L} "A measure of 2019"@en .\n'
        f'{_X} <{_K}date> "2021-05"^^<http://www.w3.org/2001/XMLSchema#gYearMonth> .\n'),
}


@pytest.fixture(scope="module")
def bundled_nt() -> bytes:
    return make_release(bundled_sources(), validate=False).ntriples


def test_hygiene_checks_pass_on_the_bundled_graph(bundled_nt: bytes) -> None:
    from graph.checks import check_files, render_checks, run_checks

    results = run_checks(bundled_nt)
    assert {r.name for r in results} == {p.stem for p in check_files()} == set(BREACHES)
    assert all(r.passed for r in results), render_checks(results)


@pytest.mark.parametrize("name", sorted(BREACHES))
def test_each_hygiene_check_reports_its_breach(name: str, bundled_nt: bytes) -> None:
    from graph.checks import run_checks

    results = {r.name: r for r in run_checks(bundled_nt + BREACHES[name].encode())}
    assert not results[name].passed
    assert any("breach" in cell or "action/1" in cell for row in results[name].rows for cell in row)
