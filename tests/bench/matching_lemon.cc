// matching_lemon: the reference for tests/bench/bench_matching.sh. Reads a
// matching instance (docs/matching.md: n / v / e lines, # comments) on stdin
// and solves min-cost maximum b-matching with LEMON: Preflow for the
// maximum number of matches F, then NetworkSimplex for the least cost of a
// flow of F from source to sink (source -> need cap 1, need -> volunteer
// cap 1 at the pair's cost, volunteer -> sink at its capacity). Prints the
// parse time, both solve times, the count and the cost. Built only by the
// benchmark (g++ directly), never by CMake: LEMON is C++ and a benchmark
// dependency only.
#include <lemon/network_simplex.h>
#include <lemon/preflow.h>
#include <lemon/smart_graph.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>

using namespace lemon;
typedef SmartDigraph G;

static double
now ()
{
    return std::chrono::duration<double> (std::chrono::steady_clock::now ().time_since_epoch ())
        .count ();
}

int
main ()
{
    std::ios::sync_with_stdio (false);
    double t0 = now ();
    G g;
    G::ArcMap<long long> cap (g), cost (g);
    G::Node s = g.addNode (), t = g.addNode ();
    std::unordered_map<std::string, G::Node> needs, vols;
    std::string line, kind, a, b;
    long long n;
    while (std::getline (std::cin, line)) {
        size_t hash = line.find ('#');
        if (hash != std::string::npos)
            line.resize (hash);
        std::istringstream in (line);
        if (!(in >> kind))
            continue;
        if (kind == "n" && in >> a) {
            G::Node x = g.addNode ();
            needs[a] = x;
            G::Arc arc = g.addArc (s, x);
            cap[arc] = 1, cost[arc] = 0;
        }
        else if (kind == "v" && in >> a >> n) {
            G::Node x = g.addNode ();
            vols[a] = x;
            G::Arc arc = g.addArc (x, t);
            cap[arc] = n, cost[arc] = 0;
        }
        else if (kind == "e" && in >> a >> b >> n) {
            G::Arc arc = g.addArc (needs.at (a), vols.at (b));
            cap[arc] = 1, cost[arc] = n;
        }
        else {
            std::cerr << "matching_lemon: bad line: " << line << "\n";
            return 1;
        }
    }
    double t1 = now ();
    Preflow<G, G::ArcMap<long long>> preflow (g, cap, s, t);
    preflow.runMinCut ();
    long long flow = preflow.flowValue ();
    double t2 = now ();
    NetworkSimplex<G, long long, long long> ns (g);
    ns.upperMap (cap).costMap (cost).stSupply (s, t, flow);
    if (ns.run () != NetworkSimplex<G, long long, long long>::OPTIMAL) {
        std::cerr << "matching_lemon: not optimal\n";
        return 1;
    }
    double t3 = now ();
    std::printf ("lemon parse_s %.3f preflow_s %.3f simplex_s %.3f matched %lld cost %lld\n",
                 t1 - t0, t2 - t1, t3 - t2, flow, (long long) ns.totalCost ());
    return 0;
}
