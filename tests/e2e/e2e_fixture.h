// What the end-to-end tests share: a scripted IMAP backend (MiniImap), the
// strings imapfront and that backend say, and helpers that read stats, the
// access log and plaintext sockets. Every wait is bounded.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/harness.h"

namespace imapfront::testing {

using Json = nlohmann::json;

inline const std::string kGreeting = "* OK [CAPABILITY IMAP4rev1 LITERAL+] test backend ready\r\n";
inline const std::string kTooMany = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n";
inline const std::string kStartTlsGreeting =
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imapfront ready\r\n";

// A small IMAP server: greets, answers '+' to every synchronizing literal,
// "TAG OK" to every complete command, and BYE + close to LOGOUT. It reads
// commands exactly as the transcript holds them, so it also checks framing.
void MiniImap(BackendConnection& c);

std::string Sha256Hex(std::string_view data);

// Stats once |accepted| connections have been accepted and every session
// has ended (bounded wait), with the invariant checked.
Json QuietStats(Proxy& proxy, uint64_t accepted = 1);

// Opens a session and waits for the backend's greeting through it.
std::unique_ptr<TlsClient> Greeted(uint16_t port, const std::string& sni = "");

// The access log's lines, parsed.
std::vector<Json> ReadJsonLines(const std::string& path);

// A config with the implicit-TLS listener and a STARTTLS one on |plain_port|.
Json WithStartTls(Json config, uint16_t plain_port);

// Reads plaintext from |s| until |needle| shows up (bounded).
bool ReadPlainUntil(Socket& s, std::string* got, std::string_view needle);

}  // namespace imapfront::testing
