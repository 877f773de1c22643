// End to end: /metrics as Prometheus' own tools read it: promtool's linter
// and the Python client's parser (Debian's prometheus and
// python3-prometheus-client, installed by deploy/install-deps.sh).
#include <doctest/doctest.h>

#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

// The body of an HTTP answer.
std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// Reads the exposition with prometheus_client's parser and checks what a
// scraper relies on; prints "ok" or what is wrong.
constexpr const char* kParse = R"PY(
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
families = {f.name: f for f in text_string_to_metric_families(text)}
problems = []
for name, f in families.items():
    if not f.samples:
        problems.append("no samples: " + name)
    if f.type == "unknown":
        problems.append("untyped: " + name)
def value(family, sample, **labels):
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    problems.append("missing %s %s" % (sample, labels))
    return None
for h in ("imapfront_tls_handshake_seconds", "imapfront_backend_connect_seconds",
          "imapfront_session_duration_seconds"):
    f = families.get(h)
    if f is None or f.type != "histogram":
        problems.append("not a histogram: " + h)
        continue
    buckets = [s for s in f.samples if s.name == h + "_bucket"]
    bounds = [float(s.labels["le"]) for s in buckets]
    counts = [s.value for s in buckets]
    if bounds != sorted(bounds) or bounds[-1] != float("inf"):
        problems.append("bad bounds: " + h)
    if counts != sorted(counts):
        problems.append("not cumulative: " + h)
    if value(h, h + "_count") != counts[-1]:
        problems.append("count is not the +Inf bucket: " + h)
print("handshakes", value("imapfront_tls_handshake_seconds", "imapfront_tls_handshake_seconds_count"))
print("connects", value("imapfront_backend_connect_seconds", "imapfront_backend_connect_seconds_count"))
print("durations", value("imapfront_session_duration_seconds", "imapfront_session_duration_seconds_count"))
print("no_route", value("imapfront_connections_closed", "imapfront_connections_closed_total", reason="no_route"))
print("relayed", value("imapfront_relayed_bytes", "imapfront_relayed_bytes_total", direction="client_to_backend"))
print("build", value("imapfront_build_info", "imapfront_build_info"))
print("rss", value("process_resident_memory_bytes", "process_resident_memory_bytes") > 0)
print("\n".join(problems) if problems else "ok")
)PY";

TEST_CASE(
    "/metrics: promtool finds nothing, the Prometheus parser reads every family, the "
    "histograms count what happened") {
  E2e t([](Json& config) {
    // A second route by SNI, so that the per-route families have two members.
    config["routes"].insert(config["routes"].begin(),
                            Json{{"name", "other"},
                                 {"sni", {"other.example"}},
                                 {"backends", config["routes"][0]["backends"]}});
  });
  {
    auto client = t.Greeted();
    REQUIRE(client->Send("a1 LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  {
    auto client = t.Greeted("other.example");
    REQUIRE(client->Send("a1 LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  t.QuietStats(2);
  const std::string metrics = Body(HttpGet(t.proxy.stats_port(), "/metrics"));
  REQUIRE(!metrics.empty());
  const std::string file = t.setup.dir + "/metrics.txt";
  WriteFile(file, metrics);

  const auto lint = RunCommand({"/bin/sh", "-c", "promtool check metrics < " + file});
  CHECK_MESSAGE(lint.exit_code == 0, lint.output);
  CHECK_MESSAGE(lint.output.empty(), lint.output);

  const std::string script = t.setup.dir + "/parse.py";
  WriteFile(script, kParse);
  const auto parsed = RunCommand({"/usr/bin/python3", script, file});
  CHECK_MESSAGE(parsed.exit_code == 0, parsed.output);
  CHECK_MESSAGE(parsed.output.ends_with("ok\n"), parsed.output);
  CHECK_MESSAGE(parsed.output.find("handshakes 2.0\n") != std::string::npos, parsed.output);
  CHECK_MESSAGE(parsed.output.find("connects 2.0\n") != std::string::npos, parsed.output);
  CHECK_MESSAGE(parsed.output.find("durations 2.0\n") != std::string::npos, parsed.output);
  CHECK_MESSAGE(parsed.output.find("no_route 0.0\n") != std::string::npos, parsed.output);
  CHECK_MESSAGE(parsed.output.find("relayed 22.0\n") != std::string::npos, parsed.output);
  CHECK_MESSAGE(parsed.output.find("build 1.0\n") != std::string::npos, parsed.output);
  CHECK_MESSAGE(parsed.output.find("rss True\n") != std::string::npos, parsed.output);
  CHECK(metrics.find("imapfront_build_info{version=\"") != std::string::npos);
  CHECK(metrics.find("process_open_fds ") != std::string::npos);
  CHECK(metrics.find("process_start_time_seconds ") != std::string::npos);
}

}  // namespace
}  // namespace imapfront::testing
