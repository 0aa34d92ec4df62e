// rabat-kg query editor: YASGUI (bundled, vendor/yasgui) set up for this server only.
//
// Everything comes from this origin: the endpoint (/sparql), the graph's prefixes and its
// classes and properties for autocompletion (/sparql/vocabulary.json), the stored queries as
// ready examples (/queries). YASGUI's own network features (LOV autocompletion, the
// prefix.cc list, the public endpoint catalogue) are replaced. A syntax error answered as
// application/problem+json is shown with its line and column and marked in the editor; an
// empty answer's Query-Hint header (terms the ontology does not define) is shown below it.
(function () {
  "use strict";

  var root = document.getElementById("kg-yasgui");
  if (!root || typeof window.Yasgui === "undefined") { return; }
  var Yasgui = window.Yasgui;
  var Yasqe = Yasgui.Yasqe;
  var config = JSON.parse(root.getAttribute("data-config"));
  var endpoint = new URL(config.endpoint, window.location.href).href;
  var errorBox = document.getElementById("kg-query-error");

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
        return r.json();
      });
  }

  // --- autocompletion from the graph itself ------------------------------------------------
  var vocabulary = getJson(config.vocabulary).catch(function (err) {
    console.warn("vocabulary unavailable", err);
    return { classes: [], properties: [], prefixes: config.prefixes, version: "none" };
  });

  function fromGraph(base, name, pick) {
    var conf = Object.assign({}, base);
    conf.name = name;
    conf.bulk = true;
    conf.autoShow = base.autoShow;
    conf.persistenceId = null;
    conf.get = function () {
      return vocabulary.then(pick);
    };
    return conf;
  }

  var builtIn = Yasqe.Autocompleters;
  if (builtIn.prefixes) {
    Yasqe.registerAutocompleter(fromGraph(builtIn.prefixes, "kg-prefixes", function (v) {
      var prefixes = v.prefixes || config.prefixes;
      return Object.keys(prefixes).sort().map(function (p) { return p + ": <" + prefixes[p] + ">"; });
    }), false);
  }
  if (builtIn["class"]) {
    Yasqe.registerAutocompleter(fromGraph(builtIn["class"], "kg-classes", function (v) {
      return v.classes.map(function (t) { return t.iri; });
    }), false);
  }
  if (builtIn.property) {
    Yasqe.registerAutocompleter(fromGraph(builtIn.property, "kg-properties", function (v) {
      return v.properties.map(function (t) { return t.iri; });
    }), false);
  }
  // Only our completers and the (local) variable one: none of these reaches the network.
  var wanted = ["variables", "kg-prefixes", "kg-classes", "kg-properties"].filter(function (n) {
    return n === "variables" ? Boolean(builtIn.variables) : Boolean(builtIn[n]);
  });
  var active = Yasqe.defaults.autocompleters;
  active.splice(0, active.length);
  Array.prototype.push.apply(active, wanted);
  Yasqe.defaults.prefixCcApi = null;

  // The server predeclares these prefixes (kg:, rdfs:, ...): YASQE's own syntax check must
  // not flag them as undeclared, so its tokenizer starts with them (a PREFIX line still wins).
  if (Yasqe.modes && typeof Yasqe.modes.sparql11 === "function") {
    var sparqlMode = Yasqe.modes.sparql11;
    Yasqe.modes.sparql11 = function () {
      var mode = sparqlMode.apply(this, arguments);
      var startState = mode.startState;
      mode.startState = function () {
        var state = startState.apply(this, arguments);
        state.prefixes = Object.assign({}, config.prefixes, state.prefixes || {});
        return state;
      };
      return mode;
    };
  }

  // --- the editor --------------------------------------------------------------------------
  var yasgui = new Yasgui(root, {
    persistenceId: "rabat-kg-editor",
    requestConfig: {
      endpoint: endpoint,
      method: "POST",
      acceptHeaderSelect: "application/sparql-results+json,*/*;q=0.9",
      acceptHeaderGraph: "text/turtle,*/*;q=0.9"
    },
    endpointCatalogueOptions: {
      getData: function () { return [{ endpoint: endpoint }]; },
      keys: []
    },
    copyEndpointOnNewTab: true,
    yasqe: { value: root.getAttribute("data-default-query") || "" },
    yasr: { prefixes: config.prefixes }
  });
  window.kgYasgui = yasgui; // for tests and the curious

  // --- problem+json errors, marked where they are -----------------------------------------
  var marked = new WeakMap();

  function clearMarks(yasqe) {
    var state = marked.get(yasqe);
    if (state) {
      state.mark.clear();
      yasqe.removeLineClass(state.line, "background", "kg-error-line");
      marked.delete(yasqe);
    }
    if (errorBox) { errorBox.hidden = true; errorBox.textContent = ""; }
  }

  function problemOf(response) {
    if (!(response instanceof Error)) { return null; }
    try {
      var doc = JSON.parse(response.message);
      return doc && typeof doc === "object" && doc.type ? doc : null;
    } catch (e) {
      return null;
    }
  }

  function showProblem(yasqe, problem) {
    clearMarks(yasqe);
    if (!errorBox) { return; }
    var first = String(problem.detail).split("\n")[0];
    var text = problem.title + ": " + first;
    if (problem.line) {
      var where = (errorBox.getAttribute("data-template") || "line {line}, column {column}")
        .replace("{line}", problem.line).replace("{column}", problem.column || 1);
      // The detail starts with its own position: show it once, in the reader's language.
      text = where + " — " + first.replace(/^syntax error at line \d+, column \d+[,:]?\s*/, "");
      var doc = yasqe.getDoc();
      var line = Math.min(Math.max(problem.line - 1, 0), doc.lastLine());
      var length = doc.getLine(line).length;
      var ch = Math.min(Math.max((problem.column || 1) - 1, 0), length);
      var to = ch < length ? ch + 1 : ch;
      var from = ch < length ? ch : Math.max(ch - 1, 0);
      var mark = doc.markText({ line: line, ch: from }, { line: line, ch: to },
        { className: "kg-error-mark", title: text });
      yasqe.addLineClass(line, "background", "kg-error-line");
      marked.set(yasqe, { mark: mark, line: line });
      errorBox.setAttribute("data-line", String(problem.line));
      errorBox.setAttribute("data-column", String(problem.column || ""));
    }
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  // --- hints for empty answers (Query-Hint: kg: terms the ontology does not define) -------
  var hintBox = document.getElementById("kg-query-hint");

  function showHints(response) {
    if (!hintBox) { return; }
    var headers = response && response.headers;
    var hints = headers && typeof headers.get === "function" ? headers.get("Query-Hint") : null;
    hintBox.textContent = "";
    hintBox.hidden = !hints;
    if (!hints) { return; }
    var label = document.createElement("strong");
    label.textContent = (hintBox.getAttribute("data-label") || "Nothing found") + ": ";
    hintBox.appendChild(label);
    hints.split(" | ").forEach(function (hint, i) {
      if (i) { hintBox.appendChild(document.createElement("br")); }
      hintBox.appendChild(document.createTextNode(hint));
    });
  }

  var watched = new WeakSet();
  function watch(tab) {
    var yasqe = tab && tab.getYasqe && tab.getYasqe();
    if (!yasqe || watched.has(yasqe)) { return; }
    watched.add(yasqe);
    yasqe.on("queryResponse", function (instance, response) {
      var problem = problemOf(response);
      if (problem) { showProblem(instance, problem); } else { clearMarks(instance); }
      showHints(problem ? null : response);
    });
    yasqe.on("change", function (instance) { clearMarks(instance); showHints(null); });
  }
  yasgui.on("query", function (instance, tab) { watch(tab); });
  yasgui.on("tabSelect", function (instance, id) { watch(instance.getTab(id)); });
  watch(yasgui.getTab());

  // --- stored queries as ready examples ----------------------------------------------------
  var list = document.getElementById("kg-examples");
  function openExample(query) {
    var example = (query.examples && query.examples[0]) ? query.examples[0].values : {};
    var url = new URL(query.links.sparql, window.location.href);
    Object.keys(example).forEach(function (k) { url.searchParams.set(k, example[k]); });
    fetch(url.href, { headers: { Accept: "application/sparql-query" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : query.links.sparql; })
      .then(function (text) {
        var tab = yasgui.addTab(true, {
          name: query.name,
          yasqe: { value: text },
          requestConfig: { endpoint: endpoint }
        }, { avoidDuplicateTabs: true });
        watch(tab);
      });
  }
  if (list) {
    getJson(config.queries).then(function (doc) {
      doc.queries.forEach(function (query) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "example";
        button.setAttribute("data-query", query.name);
        button.textContent = query.name;
        button.title = query.summary;
        button.addEventListener("click", function () { openExample(query); });
        var summary = document.createElement("span");
        summary.className = "small muted";
        summary.textContent = " " + query.summary;
        item.appendChild(button);
        item.appendChild(summary);
        list.appendChild(item);
      });
    }).catch(function (err) { console.warn("stored queries unavailable", err); });
  }
})();
