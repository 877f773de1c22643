// Drivers shared by the framer unit tests and the fuzz targets: they feed a
// stream cut as told, play the server's side, and record the framers'
// events in a form that must not depend on the cuts.
#pragma once

#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imap/bytes.h"
#include "imap/command_framer.h"
#include "imap/response_framer.h"

namespace imapfront::imap::testing {

inline std::span<const uint8_t> Bytes(std::string_view s) {
  return AsBytes(s);
}
inline std::string Text(std::span<const uint8_t> b) {
  return std::string(AsText(b));
}

// Cut points: every way the tests split a stream.
inline std::vector<std::vector<size_t>> CutSets(size_t length) {
  std::vector<std::vector<size_t>> sets;
  sets.push_back({});  // whole
  for (size_t cut = 1; cut < length; ++cut) sets.push_back({cut});
  std::vector<size_t> every;
  for (size_t cut = 1; cut < length; ++cut) every.push_back(cut);
  sets.push_back(every);
  std::mt19937 rng(20261128);
  for (int i = 0; i < 300; ++i) {
    std::vector<size_t> cuts;
    for (size_t pos = 0; pos < length;) {
      pos += 1 + rng() % 23;
      if (pos < length) cuts.push_back(pos);
    }
    sets.push_back(cuts);
  }
  return sets;
}

inline std::vector<std::string> Split(const std::string& s, const std::vector<size_t>& cuts) {
  std::vector<std::string> parts;
  size_t from = 0;
  for (size_t cut : cuts) {
    parts.push_back(s.substr(from, cut - from));
    from = cut;
  }
  parts.push_back(s.substr(from));
  return parts;
}

// Drives a CommandFramer over a cut stream and plays the server: whenever the
// framer is blocked, the next scripted server answer is given ('+' or 'T' for
// the tagged answer to the current command). Literal data is merged into one
// event per literal so that the event list does not depend on the cuts.
struct CommandRun {
  std::vector<std::string> events;
  std::string forwarded;  // what would reach the backend
  bool too_long = false;
};

inline const char* Name(LineDisposition d) {
  switch (d) {
    case LineDisposition::kForward:
      return "fwd";
    case LineDisposition::kForwardAsSync:
      return "fwd-sync";
    case LineDisposition::kDrop:
      return "drop";
    case LineDisposition::kRefuseTooBigSync:
      return "no-toobig";
    case LineDisposition::kRefuseTooBigNonSync:
      return "bad-toobig";
    case LineDisposition::kTooBigMidCommand:
      return "toobig-mid";
  }
  return "?";
}

inline CommandRun RunCommands(const std::vector<std::string>& parts, CommandFramerOptions options,
                              std::string server) {
  CommandFramer framer(options);
  CommandRun run;
  std::string literal;
  bool in_literal = false;
  auto end_literal = [&] {
    if (in_literal) run.events.push_back("data:" + literal);
    literal.clear();
    in_literal = false;
  };
  std::string held;  // bytes the framer could not take yet
  for (const std::string& part : parts) {
    held += part;
    size_t used = 0;
    for (int guard = 0; guard < 100000 && used < held.size(); ++guard) {
      CommandStep step = framer.Next(Bytes(held).subspan(used));
      used += step.consumed;
      switch (step.kind) {
        case CommandStep::Kind::kNeedInput:
          break;
        case CommandStep::Kind::kBlocked: {
          end_literal();
          if (server.empty()) {
            run.events.push_back("stuck");  // the server has nothing more to say
            return run;
          }
          char answer = server[0];
          server.erase(0, 1);
          if (answer == '+') {
            run.events.push_back(framer.OnServerContinuation() ? "server:+" : "server:+(eaten)");
          } else {
            run.events.push_back("server:tagged " + std::string(framer.tag()));
            framer.OnServerTagged(framer.tag());
          }
          break;
        }
        case CommandStep::Kind::kLineTooLong:
          run.too_long = true;
          run.events.push_back("too-long");
          return run;
        case CommandStep::Kind::kLiteralData:
          in_literal = true;
          literal += Text(step.bytes);
          if (!step.discard) run.forwarded += Text(step.bytes);
          break;
        case CommandStep::Kind::kLine: {
          end_literal();
          std::string e = std::string("line ") + Name(step.disposition);
          if (step.command_start)
            e += " start(" + std::string(framer.tag()) + " " + std::string(framer.name()) + ")";
          if (step.command_end) e += " end";
          if (step.continuation) e += " cont";
          if (step.literal) {
            e += " literal(" + std::to_string(step.literal->size) +
                 (step.literal->non_sync ? "+" : "") + (step.literal->binary ? " bin" : "") + ")";
          }
          e += ": " + Text(step.bytes);
          run.events.push_back(e);
          if (step.disposition == LineDisposition::kForward) run.forwarded += Text(step.bytes);
          if (step.disposition == LineDisposition::kTooBigMidCommand) return run;  // session ends
          break;
        }
      }
      if (step.kind == CommandStep::Kind::kLiteralData && step.consumed == 0) break;
    }
    held.erase(0, used);
  }
  end_literal();
  return run;
}

struct ResponseRecorder : ResponseVisitor {
  std::vector<std::string> events;
  std::string passed;  // every byte, held or not, in order
  std::string pending;
  void Flush() {
    if (!pending.empty()) events.push_back("bytes:" + pending);
    pending.clear();
  }
  void OnResponseBytes(std::span<const uint8_t> b) override {
    pending += Text(b);
    passed += Text(b);
  }
  void OnResponseLine(const ResponseLine& line) override {
    Flush();
    const char* kinds[] = {"cont", "tagged", "status", "capability", "list"};
    events.push_back(std::string("line ") + kinds[static_cast<int>(line.kind)] + " " +
                     std::string(line.tag) + " " + std::string(line.status) +
                     (line.passed_on ? " passed-on" : "") + ": " + Text(line.bytes));
    passed += Text(line.bytes);
  }
  void OnResponseEnd() override {
    Flush();
    events.push_back("end");
  }
};

// |finish|: the stream ends after |parts| (ResponseFramer::Finish).
inline std::vector<std::string> RunResponses(const std::vector<std::string>& parts, size_t max_held,
                                             std::string* passed, bool finish = false,
                                             bool hold_lists = false) {
  ResponseFramer framer(max_held);
  framer.set_hold_lists(hold_lists);
  ResponseRecorder r;
  for (const std::string& part : parts) framer.Feed(Bytes(part), r);
  if (finish) framer.Finish(r);
  r.Flush();
  if (passed) *passed = r.passed;
  return r.events;
}

}  // namespace imapfront::imap::testing
