"""Authoring files: each quote of a source written once, with the statements it supports.

An authoring file (`*.quotes.trig`, README "Adding a source") is TriG about one source
document whose text lies beside it; `compile_source` turns it into the N-Triples a release
loads. In the default graph, `au:` terms direct the compiler (`document au:text "file.txt"`,
`quote:x au:exact "the words"` with optional `au:prefix` / `au:suffix`, `<G> a au:Inference`
or `au:Derivation` with `au:evidence` and `au:reasoning`); every other triple passes through.
The named graph `quote:x { ... }` holds what the words of quote:x state: asserted, and
reified (`quote:x#sN`) as supported by the quote, a `kg:Quote` annotation whose
`oa:TextQuoteSelector` holds the words. A graph of an au:Inference is asserted and reified as
`kg:InferredStatement`; one of an au:Derivation is only reified (`kg:DerivedStatement`), so a
query that ignores provenance never reads a worked-out figure as a stated fact.

Every quote's words, whitespace-normalised as `oa:exact` holds them, must occur in the text,
exactly once with their prefix and suffix; a mismatch or malformed input is a `DataError`
naming file and line. No blank node is written, so a build always gives the same bytes.

    python -m graph.authoring [FILE ...]   # print the N-Triples a release loads (quotes checked)
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from graph.errors import DataError
from graph.namespaces import ID, KG, STANDARD_PREFIXES

# The authoring vocabulary: it directs the compiler and never reaches a release.
AU = "https://w3id.org/rabat-kg/authoring#"
AU_TERMS = {"text", "exact", "prefix", "suffix", "evidence", "reasoning", "Inference", "Derivation"}
QUOTE_BASE = ID + "quote/"

RDF, RDFS, OA = (STANDARD_PREFIXES[p] for p in ("rdf", "rdfs", "oa"))
LABEL_WIDTH = 77  # characters of a quote kept in its label before the ellipsis
nn = ox.NamedNode


def kg(name: str) -> ox.NamedNode:
    return ox.NamedNode(f"{KG}{name}")


def normalise(text: str) -> str:
    """Whitespace runs become one space, ends trimmed: how `oa:exact` holds a quote."""
    return " ".join(text.split())


@dataclass
class QuoteSpec:
    """What the file says about one quote."""

    iri: str
    exact: str = ""
    prefix: str = ""
    suffix: str = ""
    statements: list[ox.Triple] = field(default_factory=list)


@dataclass
class InferenceSpec:
    """An au:Inference (asserted) or au:Derivation (not asserted) and its statements."""

    iri: str
    asserted: bool
    evidence: list[ox.NamedNode] = field(default_factory=list)
    reasoning: list[ox.Literal] = field(default_factory=list)
    statements: list[ox.Triple] = field(default_factory=list)


class Source:
    """One authoring file being compiled: its raw text for line numbers, and errors that name it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.raw = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.path}: cannot read: {exc}", file=str(self.path)) from None

    def line_of(self, *needles: str | re.Pattern[str]) -> int | None:
        """The first line (not a prefix declaration) holding any of `needles`, tried in order."""
        lines = self.raw.splitlines()
        for needle in needles:
            for number, line in enumerate(lines, start=1):
                if line.lstrip().lower().startswith(("@prefix", "prefix", "#")):
                    continue
                if (needle.search(line) if isinstance(needle, re.Pattern) else needle and needle in line):
                    return number
        return None

    def error(self, message: str, *needles: str | re.Pattern[str], line: int | None = None) -> DataError:
        """An error naming this file and the line (given, or the first holding a needle)."""
        line = line or self.line_of(*needles)
        where = f"{self.path}:{line}" if line else str(self.path)
        return DataError(f"{where}: {message}", file=str(self.path),
                         **({"line": line} if line else {}))


def local(iri: str) -> re.Pattern[str]:
    """How a curator wrote an IRI: in full, or as a prefixed name (a `#` escaped as `\\#`)."""
    name = iri.rsplit("/", 1)[-1]
    written = re.escape(name).replace(re.escape("#"), r"\\?#")
    return re.compile(rf"<{re.escape(iri)}>|(?<![\w.-])[A-Za-z][\w.-]*:{written}(?![\w-])")


def compile_source(path: Path) -> bytes:
    """The N-Triples (sorted, one triple a line) of one authoring file.

    Raises:
        DataError: a syntax error, malformed authoring input, or a quote whose words are not
            in the source text exactly as written (file and line in the message).
    """
    src = Source(path)
    try:
        quads = list(ox.parse(src.raw.encode("utf-8"), format=ox.RdfFormat.TRIG,
                              base_iri=src.path.resolve().as_uri()))
    except SyntaxError as exc:
        raise src.error(exc.msg, line=exc.lineno) from None
    document, text = read_source_text(src, quads)
    quotes, inferences, passthrough = sort_quads(src, quads)
    check_quotes(src, quotes, text)
    out = set(passthrough)
    for quote in quotes.values():
        out.update(quote_triples(quote, document))
    for inference in inferences.values():
        out.update(inference_triples(inference))
    for inference in inferences.values():
        for t in inference.statements:
            if not inference.asserted and t in out:
                raise src.error(f"{t} is derived in <{inference.iri}> and also asserted",
                                local(inference.iri))
    return ox.serialize(sorted(out, key=str), format=ox.RdfFormat.N_TRIPLES) or b""


def read_source_text(src: Source, quads: list[ox.Quad]) -> tuple[ox.NamedNode, str]:
    """The document the quotes are from and its normalised text (au:text, exactly once)."""
    found = [q for q in quads if q.predicate == nn(AU + "text")]
    if len(found) != 1 or not isinstance(found[0].subject, ox.NamedNode) \
            or not isinstance(found[0].object, ox.Literal):
        raise src.error("needs exactly one `<document> au:text \"file.txt\"` naming the source text",
                        "au:text")
    text_path = src.path.parent / found[0].object.value
    try:
        text = text_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise src.error(f"cannot read the source text {text_path}: {exc}", "au:text") from None
    return found[0].subject, normalise(text)


def sort_quads(src: Source, quads: list[ox.Quad]) -> tuple[
        dict[str, QuoteSpec], dict[str, InferenceSpec], list[ox.Triple]]:
    """Split the file into quotes, inferences and pass-through triples, checking its form."""
    quotes: dict[str, QuoteSpec] = {}
    inferences: dict[str, InferenceSpec] = {}
    passthrough: list[ox.Triple] = []
    graphs: dict[str, list[ox.Triple]] = defaultdict(list)
    for q in quads:
        subject, obj, graph = q.subject, q.object, q.graph_name
        if isinstance(subject, ox.Triple) or isinstance(obj, ox.Triple):
            raise src.error("quoted triples (RDF-star) are not allowed", "<<")
        if any(isinstance(term, ox.BlankNode) for term in (subject, obj, graph)):
            raise src.error("blank nodes are not allowed (a release must parse to the same "
                            "triples every time); give the node an IRI", "[", "_:")
        p = q.predicate.value
        if not isinstance(graph, ox.DefaultGraph):
            graphs[graph.value].append(q.triple)
        elif p.startswith(AU) or (p == RDF + "type" and obj.value.startswith(AU)):
            read_directive(src, subject.value, p, obj, quotes, inferences)
        else:
            passthrough.append(q.triple)
    for name, triples in graphs.items():
        spec = quotes.get(name) or inferences.get(name)
        if spec is None:
            raise src.error(f"graph <{name}> is neither a quote (au:exact) nor an au:Inference "
                            "or au:Derivation", local(name))
        spec.statements = triples
    for quote in quotes.values():
        if not quote.exact:
            raise src.error(f"quote <{quote.iri}> has no au:exact", local(quote.iri))
        if not quote.statements:
            raise src.error(f"quote <{quote.iri}> supports no statement: give it a graph of the "
                            "statements its words state", local(quote.iri))
    for inference in inferences.values():
        if not (inference.evidence and inference.reasoning and inference.statements):
            raise src.error(f"<{inference.iri}> needs au:evidence, au:reasoning and a graph of "
                            "statements", local(inference.iri))
    return quotes, inferences, passthrough


def read_directive(src: Source, s: str, p: str, o: ox.NamedNode | ox.BlankNode | ox.Literal,
                   quotes: dict[str, QuoteSpec], inferences: dict[str, InferenceSpec]) -> None:
    """One `au:` triple of the default graph, recorded on its quote or inference."""
    name = o.value[len(AU):] if p == RDF + "type" else p[len(AU):]
    if name not in AU_TERMS:
        raise src.error(f"unknown authoring term au:{name}", f"au:{name}")
    if name == "text":
        return
    if name in ("exact", "prefix", "suffix"):
        if not s.startswith(QUOTE_BASE) or "#" in s:
            raise src.error(f"a quote's IRI is {QUOTE_BASE}<slug>, not <{s}>", local(s))
        if not isinstance(o, ox.Literal):
            raise src.error(f"au:{name} of <{s}> must be a string", local(s))
        quote = quotes.setdefault(s, QuoteSpec(s))
        if getattr(quote, name):
            raise src.error(f"<{s}> has two au:{name}", local(s))
        setattr(quote, name, o.value)
        return
    if name in ("Inference", "Derivation"):
        spec = inferences.setdefault(s, InferenceSpec(s, asserted=name == "Inference"))
        if spec.asserted != (name == "Inference"):
            raise src.error(f"<{s}> is both an au:Inference and an au:Derivation", local(s))
        return
    spec = inferences.setdefault(s, InferenceSpec(s, asserted=True))
    if name == "evidence":
        if not isinstance(o, ox.NamedNode):
            raise src.error(f"au:evidence of <{s}> must be an IRI (a quote or a web page)", local(s))
        spec.evidence.append(o)
    elif isinstance(o, ox.Literal) and o.language:
        spec.reasoning.append(o)
    else:
        raise src.error(f"au:reasoning of <{s}> must be a text with a language tag", local(s))


def check_quotes(src: Source, quotes: dict[str, QuoteSpec], text: str) -> None:
    """Every quote's words are in the text, and pick one place there (no two quotes the same)."""
    places: dict[tuple[int, int], str] = {}
    for quote in quotes.values():
        # the words as a Turtle string holds them, to find their line
        needles = (quote.exact.replace("\\", "\\\\").replace('"', '\\"'), local(quote.iri))
        if normalise(quote.exact) != quote.exact:
            raise src.error(f"quote <{quote.iri}>: au:exact must be whitespace-normalised "
                            "(single spaces, no line breaks, no leading or trailing space)", *needles)
        context = quote.prefix + quote.exact + quote.suffix
        where = [m.start() for m in re.finditer(re.escape(context), text)]
        if not where:
            raise src.error(f"quote <{quote.iri}> is not verbatim in the source text: "
                            f"{context!r} not found", *needles)
        if len(where) > 1:
            raise src.error(f"quote <{quote.iri}>: {context!r} occurs {len(where)} times in the "
                            "source text; add au:prefix or au:suffix to pick one", *needles)
        at = (where[0] + len(quote.prefix), len(quote.exact))
        if at in places:
            raise src.error(f"quotes <{places[at]}> and <{quote.iri}> select the same words", *needles)
        places[at] = quote.iri


def quote_label(exact: str) -> str:
    return exact if len(exact) <= 80 else exact[:LABEL_WIDTH].rstrip() + "…"


def quote_triples(quote: QuoteSpec, document: ox.NamedNode) -> list[ox.Triple]:
    """The quote's Web Annotation, and its statements, asserted and reified."""
    q, target, selector = nn(quote.iri), nn(quote.iri + "#target"), nn(quote.iri + "#selector")
    short = quote_label(quote.exact)
    out = [
        ox.Triple(q, nn(RDF + "type"), kg("Quote")),
        ox.Triple(q, nn(RDFS + "label"), ox.Literal(f'Quote: "{short}"', language="en")),
        ox.Triple(q, nn(RDFS + "label"), ox.Literal(f"Citation : « {short} »", language="fr")),
        ox.Triple(q, nn(OA + "motivatedBy"), nn(OA + "describing")),
        ox.Triple(q, nn(OA + "hasTarget"), target),
        ox.Triple(target, nn(RDF + "type"), nn(OA + "SpecificResource")),
        ox.Triple(target, nn(OA + "hasSource"), document),
        ox.Triple(target, nn(OA + "hasSelector"), selector),
        ox.Triple(selector, nn(RDF + "type"), nn(OA + "TextQuoteSelector")),
        ox.Triple(selector, nn(OA + "exact"), ox.Literal(quote.exact)),
    ]
    for key in ("prefix", "suffix"):
        if getattr(quote, key):
            out.append(ox.Triple(selector, nn(OA + key), ox.Literal(getattr(quote, key))))
    for body in {t.subject for t in quote.statements}:
        out.append(ox.Triple(q, nn(OA + "hasBody"), body))
        out.append(ox.Triple(body, kg("statedIn"), q))
    for i, t in enumerate(quote.statements, start=1):
        st = nn(f"{quote.iri}#s{i}")
        out += [t, ox.Triple(q, kg("supports"), st), *reify(st, t)]
    return out


def inference_triples(spec: InferenceSpec) -> list[ox.Triple]:
    """Inferred statements: asserted and reified; derived ones: reified only."""
    kind = kg("InferredStatement" if spec.asserted else "DerivedStatement")
    joint = "-" if "#" in spec.iri else "#"
    out: list[ox.Triple] = []
    for i, t in enumerate(spec.statements, start=1):
        st = nn(f"{spec.iri}{joint}s{i}")
        if spec.asserted:
            out.append(t)
        out += [*reify(st, t), ox.Triple(st, nn(RDF + "type"), kind)]
        out += [ox.Triple(st, kg("evidence"), e) for e in spec.evidence]
        out += [ox.Triple(st, kg("reasoning"), r) for r in spec.reasoning]
    return out


def reify(st: ox.NamedNode, t: ox.Triple) -> list[ox.Triple]:
    return [ox.Triple(st, nn(RDF + "type"), nn(RDF + "Statement")),
            ox.Triple(st, nn(RDF + "subject"), t.subject),
            ox.Triple(st, nn(RDF + "predicate"), t.predicate),
            ox.Triple(st, nn(RDF + "object"), t.object)]


def main(argv: list[str] | None = None) -> int:
    """`python -m graph.authoring [FILE ...]`: the compiled N-Triples (default: the bundled sources)."""
    from graph.paths import authoring_files

    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)] or authoring_files()
    try:
        for path in paths:
            sys.stdout.buffer.write(compile_source(path))
    except DataError as exc:
        print(exc.detail, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
