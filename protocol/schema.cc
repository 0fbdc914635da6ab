/*  schema — see schema.h. valijson does the validating; this file bounds what
    it is given (sizes, depth, $ref graph, regexes, work) and turns its
    results and every exception into the C API's values. */
#include "protocol/schema.h"

/* Without this, valijson reports a bad schema with abort(). */
#define VALIJSON_USE_EXCEPTIONS 1

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validation_visitor.hpp>

namespace
{

using json = nlohmann::json;

/* A schema or document we refuse; what() is for a person. */
struct refused : std::runtime_error {
    explicit refused(const std::string &m) : std::runtime_error(m)
    {
    }
};

/* An answer that cannot conform (not JSON, too big, too deep, too much to
   check): the answer is at fault, not the schema. */
struct bad_doc : std::runtime_error {
    explicit bad_doc(const std::string &m) : std::runtime_error(m)
    {
    }
};

/* A pattern's estimated NFA size (states), its repetitions expanded as
   libstdc++ expands them; larger ones are refused before compiling. */
constexpr double MAX_REGEX_STATES = 1000;
/* Cost of one state stepped over one character, in visits: about 20 ns
   against about 500 ns per valijson visit, measured. */
constexpr double REGEX_STEP_COST = 1.0 / 25;

double s_regex_size(const std::string &p)
{
    std::vector<double> group{0}; /* the size of each open group so far */
    std::vector<double> last_of{0};
    double last = 0; /* the size of the last atom, for a quantifier */
    size_t n = p.size();
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        double atom = -1;
        if (c == '\\') {
            i++;
            atom = 1;
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < n && p[j] == '^')
                j++;
            if (j < n && p[j] == ']')
                j++;
            while (j < n && p[j] != ']')
                j += p[j] == '\\' ? 2 : 1;
            i = j;
            atom = 1;
        } else if (c == '(') {
            group.push_back(0);
            last_of.push_back(last);
            if (i + 2 < n && p[i + 1] == '?')
                i += 2; /* (?: (?= (?! */
            last = 0;
        } else if (c == ')') {
            if (group.size() > 1) {
                double g = group.back() + 2;
                group.pop_back();
                last_of.pop_back();
                atom = g;
            }
        } else if (c == '|') {
            group.back() += 1;
            last = 0;
        } else if (c == '*' || c == '+' || c == '?') {
            group.back() += last + 1;
            last = 2 * last + 1;
        } else if (c == '{') {
            size_t j = i + 1;
            double lo = 0, hi = -1;
            while (j < n && p[j] >= '0' && p[j] <= '9' && lo < 1e9)
                lo = lo * 10 + (p[j++] - '0');
            if (j < n && p[j] == ',') {
                j++;
                hi = 0;
                bool digits = false;
                while (j < n && p[j] >= '0' && p[j] <= '9' && hi < 1e9) {
                    hi = hi * 10 + (p[j++] - '0');
                    digits = true;
                }
                if (!digits)
                    hi = lo + 1; /* {n,}: n copies and a loop */
            }
            if (j < n && p[j] == '}' && j > i + 1) {
                double m = std::max(lo, hi) + 1;
                group.back() += last * m;
                last = last * (m + 1);
                i = j;
            } else {
                atom = 1;
            }
        } else {
            atom = 1;
        }
        if (atom >= 0) {
            group.back() += atom;
            last = atom;
        }
        if (group.back() > MAX_REGEX_STATES * 4)
            break;
    }
    double total = 0;
    for (double g : group)
        total += g;
    return total + 2;
}

/* Same-instance chains ($ref → allOf → $ref …) longer than this are refused:
   valijson recurses once per link, on top of the document's depth. */
constexpr size_t MAX_CHAIN = 16;
constexpr size_t MAX_NODES = 20000;

void s_fill(char *err, size_t errlen, const std::string &msg)
{
    if (err && errlen > 0)
        std::snprintf(err, errlen, "%s", msg.c_str());
}

json s_parse(const char *text, size_t len, const char *what)
{
    json::parser_callback_t cb = [](int depth, json::parse_event_t, json &) {
        if (depth > SCHEMA_MAX_DEPTH)
            throw refused("nested deeper than " + std::to_string(SCHEMA_MAX_DEPTH) + " levels");
        return true;
    };
    try {
        return json::parse(text, text + len, cb);
    } catch (const refused &e) {
        throw refused(std::string(what) + " is " + e.what());
    } catch (const json::exception &e) {
        throw refused(std::string(what) + " is not valid JSON: " + e.what());
    }
}

enum edge_kind { E_SAME, E_PROP, E_ADDPROP, E_ITEMS, E_ITEM_AT, E_ANY, E_NAMES };

struct edge {
    edge_kind kind;
    int to;
    std::string key; /* E_PROP */
    size_t idx;      /* E_ITEM_AT */
};

/* The schema as a graph of its subschemas: edges to subschemas applied to
   the same instance (E_SAME: allOf, $ref, not, if …) and to a child of it. */
struct graph {
    json &root;
    std::vector<std::vector<edge>> out;
    std::map<const json *, int> ids;
    std::unordered_map<std::string, std::regex> regexes;
    std::map<int, double> pattern_size; /* node → its pattern's estimated states */
    std::vector<int> topo_pos;          /* position of each node in a topological order of E_SAME */

    explicit graph(json &r) : root(r)
    {
    }

    void add(int from, edge_kind kind, int to, const std::string &key = "", size_t idx = 0)
    {
        if (to >= 0)
            out[from].push_back(edge{kind, to, key, idx});
    }

    void pattern(const std::string &p)
    {
        if (regexes.count(p))
            return;
        if (p.size() > SCHEMA_MAX_PATTERN)
            throw refused("a \"pattern\" is longer than " + std::to_string(SCHEMA_MAX_PATTERN) +
                          " bytes");
        if (s_regex_size(p) > MAX_REGEX_STATES)
            throw refused("a \"pattern\" repeats too much (more than " +
                          std::to_string((int)MAX_REGEX_STATES) + " states): " + p);
        for (size_t i = 0; i + 1 < p.size(); i++) {
            if (p[i] != '\\')
                continue;
            char c = p[i + 1];
            if ((c >= '1' && c <= '9') || c == 'k')
                throw refused("a \"pattern\" uses a back-reference (not supported)");
            i++;
        }
        try {
            /* __polynomial: libstdc++'s Thompson-NFA executor (time linear in
               the subject, recursion bounded by the pattern), allowed because
               the pattern has no back-reference. */
            const auto flags =
                std::regex_constants::ECMAScript | std::regex_constants::__polynomial;
            std::regex alone(p, flags); /* balanced and valid on its own */
            /* regex_search retries from every start position, each run going
               to the end of the subject: quadratic. Anchored behind "any
               prefix", one run covers every start and the rest fail at '^';
               the answer (does p match somewhere) is the same. valijson finds
               it in its cache under p. */
            regexes.emplace(p, std::regex("^[\\s\\S]*(?:" + p + ")", flags));
        } catch (const std::regex_error &e) {
            throw refused("a \"pattern\" is not a valid regular expression: " + p);
        }
    }

    int ref(const std::string &r, size_t depth)
    {
        if (r.empty() || r[0] != '#')
            throw refused("only local $ref (\"#/…\") are supported, not \"" + r + "\"");
        json *target = nullptr;
        try {
            target = &root.at(json::json_pointer(r.substr(1)));
        } catch (const json::exception &) {
            throw refused("$ref \"" + r + "\" points nowhere");
        }
        return walk(*target, depth + 1, false);
    }

    int walk(json &j, size_t depth, bool at_root)
    {
        if (!j.is_object())
            return -1;
        auto it = ids.find(&j);
        if (it != ids.end())
            return it->second;
        if (depth > 4 * SCHEMA_MAX_DEPTH)
            throw refused("the $ref chain is too long");
        if (out.size() >= MAX_NODES)
            throw refused("too many subschemas");
        int id = (int)out.size();
        ids[&j] = id;
        out.emplace_back();

        if (j.contains("patternProperties"))
            throw refused("\"patternProperties\" is not supported");
        if (!at_root && ((j.contains("$id") && j["$id"].is_string()) ||
                         (j.contains("id") && j["id"].is_string())))
            throw refused("\"$id\" is supported only at the schema's root");
        if (j.contains("format") && j["format"].is_string())
            j.erase("format"); /* not asserted: see schema.h */
        if (j.contains("pattern") && j["pattern"].is_string()) {
            pattern(j["pattern"].get<std::string>());
            pattern_size[id] = s_regex_size(j["pattern"].get<std::string>());
        }

        for (auto &kv : j.items()) {
            const std::string &k = kv.key();
            json &v = kv.value();
            if (k == "allOf" || k == "anyOf" || k == "oneOf" || k == "extends") {
                if (v.is_array())
                    for (auto &s : v)
                        add(id, E_SAME, walk(s, depth + 1, false));
                else
                    add(id, E_SAME, walk(v, depth + 1, false));
            } else if (k == "not" || k == "if" || k == "then" || k == "else") {
                add(id, E_SAME, walk(v, depth + 1, false));
            } else if (k == "dependencies" || k == "dependentSchemas") {
                if (v.is_object())
                    for (auto &s : v)
                        add(id, E_SAME, walk(s, depth + 1, false));
            } else if (k == "$ref") {
                if (v.is_string())
                    add(id, E_SAME, ref(v.get<std::string>(), depth));
            } else if (k == "properties") {
                if (v.is_object())
                    for (auto &p : v.items())
                        add(id, E_PROP, walk(p.value(), depth + 1, false), p.key());
            } else if (k == "additionalProperties" || k == "unevaluatedProperties") {
                add(id, E_ADDPROP, walk(v, depth + 1, false));
            } else if (k == "items" || k == "prefixItems") {
                if (v.is_array()) {
                    size_t i = 0;
                    for (auto &s : v)
                        add(id, E_ITEM_AT, walk(s, depth + 1, false), "", i++);
                } else {
                    add(id, E_ITEMS, walk(v, depth + 1, false));
                }
            } else if (k == "propertyNames") {
                add(id, E_NAMES, walk(v, depth + 1, false));
            } else if (k == "additionalItems" || k == "unevaluatedItems" || k == "contains") {
                add(id, E_ANY, walk(v, depth + 1, false));
            } else if (k == "definitions" || k == "$defs") {
                if (v.is_object())
                    for (auto &s : v)
                        walk(s, depth + 1, false);
            }
        }
        return id;
    }

    /* Refuses a loop of same-instance edges (valijson would recurse forever)
       and chains longer than MAX_CHAIN; fills topo_pos. */
    void order()
    {
        size_t n = out.size();
        std::vector<size_t> indeg(n, 0), chain(n, 0);
        for (auto &es : out)
            for (auto &e : es)
                if (e.kind == E_SAME)
                    indeg[e.to]++;
        std::vector<int> ready;
        for (size_t i = 0; i < n; i++)
            if (indeg[i] == 0)
                ready.push_back((int)i);
        topo_pos.assign(n, -1);
        int pos = 0;
        while (!ready.empty()) {
            int u = ready.back();
            ready.pop_back();
            topo_pos[u] = pos++;
            for (auto &e : out[u]) {
                if (e.kind != E_SAME)
                    continue;
                chain[e.to] = std::max(chain[e.to], chain[u] + 1);
                if (chain[e.to] > MAX_CHAIN)
                    throw refused("a chain of $ref/allOf/anyOf/oneOf is longer than " +
                                  std::to_string(MAX_CHAIN));
                if (--indeg[e.to] == 0)
                    ready.push_back(e.to);
            }
        }
        if ((size_t)pos != n)
            throw refused("a $ref loop never descends into the document");
    }

    /* Counts the visits valijson makes: the schema nodes applied to each
       instance node (a multiset, closed over E_SAME), summed over the
       document; refuses past SCHEMA_MAX_VISITS. */
    double visits = 0;

    void apply(const json &inst, const std::map<int, double> &start, size_t depth)
    {
        /* Close over E_SAME in topological order: key by position. */
        std::map<int, std::pair<int, double>> q; /* topo pos → (node, count) */
        for (auto &s : start) {
            auto &slot = q[topo_pos[s.first]];
            slot.first = s.first;
            slot.second += s.second;
        }
        std::map<int, double> applied;
        while (!q.empty()) {
            auto first = q.begin();
            int u = first->second.first;
            double c = first->second.second;
            q.erase(first);
            applied[u] += c;
            visits += c;
            if (inst.is_string()) {
                auto ps = pattern_size.find(u);
                if (ps != pattern_size.end())
                    visits += c * (double)(inst.get_ref<const std::string &>().size() + 1) *
                              ps->second * REGEX_STEP_COST;
            }
            if (visits > SCHEMA_MAX_VISITS)
                throw refused("the schema is too complex for this answer (more than " +
                              std::to_string(SCHEMA_MAX_VISITS) + " checks)");
            for (auto &e : out[u]) {
                if (e.kind != E_SAME)
                    continue;
                auto &slot = q[topo_pos[e.to]];
                slot.first = e.to;
                slot.second += c;
            }
        }
        if (depth >= SCHEMA_MAX_DEPTH)
            return;
        if (inst.is_object()) {
            std::map<int, double> names;
            for (auto &a : applied)
                for (auto &e : out[a.first])
                    if (e.kind == E_NAMES)
                        names[e.to] += a.second;
            for (auto &m : inst.items()) {
                if (!names.empty())
                    apply(json(m.key()), names, depth + 1);
                std::map<int, double> next;
                for (auto &a : applied)
                    for (auto &e : out[a.first])
                        if ((e.kind == E_PROP && e.key == m.key()) || e.kind == E_ADDPROP ||
                            e.kind == E_ANY)
                            next[e.to] += a.second;
                if (!next.empty())
                    apply(m.value(), next, depth + 1);
            }
        } else if (inst.is_array()) {
            size_t i = 0;
            for (auto &el : inst) {
                std::map<int, double> next;
                for (auto &a : applied)
                    for (auto &e : out[a.first])
                        if (e.kind == E_ITEMS || e.kind == E_ANY ||
                            (e.kind == E_ITEM_AT && e.idx == i))
                            next[e.to] += a.second;
                if (!next.empty())
                    apply(el, next, depth + 1);
                i++;
            }
        }
    }
};

/* "<root>", "[a]", "[2]" → "$.a[2]" */
std::string s_path(const std::vector<std::string> &ctx)
{
    std::string p = "$";
    for (size_t i = 0; i < ctx.size(); i++) {
        const std::string &c = ctx[i];
        if (c == "<root>")
            continue;
        if (c.size() >= 2 && c.front() == '[' && c.back() == ']') {
            std::string in = c.substr(1, c.size() - 2);
            bool digits = !in.empty() && in.find_first_not_of("0123456789") == std::string::npos;
            p += digits ? c : "." + in;
        } else {
            p += "." + c;
        }
    }
    return p;
}

int s_run(const char *schema, size_t slen, const char *doc, size_t dlen, bool with_doc, char *err,
          size_t errlen)
{
    if (slen > SCHEMA_MAX_SCHEMA)
        throw refused("the schema is larger than " + std::to_string(SCHEMA_MAX_SCHEMA) + " bytes");
    json sj = s_parse(schema, slen, "the schema");
    if (!sj.is_object())
        throw refused("the schema is not a JSON object");
    graph g(sj);
    g.walk(sj, 0, true);
    g.order();

    valijson::Schema vs;
    try {
        valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
        valijson::adapters::NlohmannJsonAdapter sa(sj);
        parser.populateSchema(sa, vs);
    } catch (const std::exception &e) {
        throw refused(std::string("the schema is not usable: ") + e.what());
    }
    if (!with_doc)
        return 1;

    json dj;
    try {
        if (dlen > SCHEMA_MAX_DOC)
            throw refused("the answer is larger than " + std::to_string(SCHEMA_MAX_DOC) + " bytes");
        dj = s_parse(doc, dlen, "the answer");
        g.apply(dj, std::map<int, double>{{0, 1.0}}, 0);
    } catch (const refused &e) {
        throw bad_doc(e.what());
    }

    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter da(dj);
    valijson::ValidationVisitor<valijson::adapters::NlohmannJsonAdapter> v(
        da, std::vector<std::string>(1, "<root>"), true, &results, g.regexes);
    if (v.validateSchema(vs))
        return 1;
    valijson::ValidationResults::Error first;
    if (results.popError(first))
        s_fill(err, errlen, "at " + s_path(first.context) + ": " + first.description);
    else
        s_fill(err, errlen, "at $: does not match the schema");
    return 0;
}

int s_guarded(const char *schema, size_t slen, const char *doc, size_t dlen, bool with_doc,
              char *err, size_t errlen)
{
    s_fill(err, errlen, "");
    if (!schema || (with_doc && !doc)) {
        s_fill(err, errlen, "no schema or no document");
        return -1;
    }
    try {
        return s_run(schema, slen, doc, dlen, with_doc, err, errlen);
    } catch (const bad_doc &e) {
        s_fill(err, errlen, e.what());
        return 0;
    } catch (const refused &e) {
        s_fill(err, errlen, e.what());
    } catch (const std::bad_alloc &) {
        s_fill(err, errlen, "out of memory while checking the schema");
    } catch (const std::exception &e) {
        s_fill(err, errlen, std::string("the schema could not be applied: ") + e.what());
    } catch (...) {
        s_fill(err, errlen, "the schema could not be applied");
    }
    return -1;
}

} // namespace

extern "C" int schema_validate(const char *schema, size_t slen, const char *doc, size_t dlen,
                               char *err, size_t errlen)
{
    return s_guarded(schema, slen, doc, dlen, true, err, errlen);
}

extern "C" int schema_check(const char *schema, size_t slen, char *err, size_t errlen)
{
    return s_guarded(schema, slen, nullptr, 0, false, err, errlen) < 0 ? -1 : 0;
}
