// Bearer JWTs (src/auth/jwt.*, with TokenCache) and admission tokens (src/queue/admission.*).
// Byte 0 % 5 picks the mode, the rest is its input:
//   0 JWT text: Verify and TokenCache agree; a token that verifies is canonical base64url in
//     every segment and its identity signs and verifies again.
//   1 JWT claims: "<header JSON>\n<claims JSON>" (no newline: the usual header), signed here
//     with the secret, so the claims checks are reached; Verify must accept exactly what the
//     rules in jwt.hpp say (alg HS256, sub a 1-128 character string, exp a number > now).
//   2 JWT tampering: byte 1 picks a valid token, then (position, byte) pairs edit it; a token
//     that differs from the valid one must not verify.
//   3 admission token text for ("alice", product 7): a token that verifies is exactly what Sign
//     writes for its ticket and expiry, and verifies for no other buyer or product.
//   4 admission fields: byte 1 the product, then "<user>\n<ticket>\n<expiry digits>": Sign then
//     Verify gives the ticket back (when the ticket can be carried: non-empty, no '.', token
//     of at most 256 characters), honours the expiry, and refuses another buyer or product.
#include "auth/jwt.hpp"
#include "queue/admission.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;
using ticketing::auth::Base64UrlDecode;
using ticketing::auth::Base64UrlEncode;
using ticketing::auth::Identity;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-secret!";
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

[[noreturn]] void Fail(const char* what, std::string_view token) {
  std::fprintf(stderr, "token invariant broken: %s\n  token: \"%.*s\"\n", what,
               static_cast<int>(token.size()), token.data());
  std::abort();
}

const ticketing::auth::JwtCodec& Jwt() {
  static const ticketing::auth::JwtCodec jwt(kSecret);
  return jwt;
}

bool Same(const Identity* a, const std::optional<Identity>& b) {
  if (!a || !b) return !a && !b;
  return a->user == b->user && a->admin == b->admin;
}

// Verify through the codec and a small TokenCache (twice: a miss, then a hit); all must agree.
std::optional<Identity> VerifyJwt(std::string_view token) {
  static ticketing::auth::TokenCache cache(Jwt(), 8);  // small: inputs evict each other
  auto direct = Jwt().Verify(token, kNow);
  if (!Same(cache.Verify(token, kNow), direct)) Fail("TokenCache disagrees with Verify", token);
  if (!Same(cache.Verify(token, kNow), direct)) Fail("TokenCache hit disagrees with Verify", token);
  return direct;
}

void CheckVerifiedJwt(std::string_view token, const Identity& who) {
  std::string_view rest = token;
  for (int i = 0; i < 3; ++i) {
    const auto dot = rest.find('.');
    const auto segment = rest.substr(0, dot);
    auto bytes = Base64UrlDecode(segment);
    if (!bytes || Base64UrlEncode(*bytes) != segment) {
      Fail("a verified token has a segment that is not canonical base64url", token);
    }
    rest.remove_prefix(dot == std::string_view::npos ? rest.size() : dot + 1);
  }
  const std::string again = Jwt().Sign(who, kNow + 60);
  auto back = Jwt().Verify(again, kNow);
  if (!back || back->user != who.user || back->admin != who.admin) {
    Fail("a verified identity does not survive Sign and Verify", token);
  }
}

// Mode 1's oracle: the acceptance rules of JwtCodec::Verify, from its contract.
std::optional<Identity> Expected(std::string_view header, std::string_view claims,
                                 std::size_t token_size) {
  if (token_size > 4096) return std::nullopt;
  boost::system::error_code ec;
  json::value h = json::parse(header, ec);
  if (ec || !h.is_object()) return std::nullopt;
  const json::value* alg = h.as_object().if_contains("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256") return std::nullopt;
  json::value c = json::parse(claims, ec);
  if (ec || !c.is_object()) return std::nullopt;
  const json::value* sub = c.as_object().if_contains("sub");
  const json::value* exp = c.as_object().if_contains("exp");
  if (!sub || !sub->is_string() || sub->as_string().empty() || sub->as_string().size() > 128) {
    return std::nullopt;
  }
  if (!exp || !exp->is_number() || !(exp->to_number<double>() > static_cast<double>(kNow))) {
    return std::nullopt;
  }
  const json::value* role = c.as_object().if_contains("role");
  return Identity{std::string(sub->as_string()),
                  role && role->is_string() && role->as_string() == "admin"};
}

void JwtText(std::string_view input) {
  if (auto who = VerifyJwt(input)) CheckVerifiedJwt(input, *who);
}

void JwtClaims(std::string_view input) {
  const auto nl = input.find('\n');
  const std::string_view header = nl == std::string_view::npos ? kHeader : input.substr(0, nl);
  const std::string_view claims = nl == std::string_view::npos ? input : input.substr(nl + 1);
  std::string token = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  token += "." + Base64UrlEncode(ticketing::auth::HmacSha256(kSecret, token));
  auto who = VerifyJwt(token);
  auto expected = Expected(header, claims, token.size());
  if (who.has_value() != expected.has_value()) {
    Fail(who ? "Verify accepted claims the rules refuse" : "Verify refused claims the rules accept",
         token);
  }
  if (who && (who->user != expected->user || who->admin != expected->admin)) {
    Fail("Verify read another identity than the claims name", token);
  }
  if (who) CheckVerifiedJwt(token, *who);
}

void JwtTampered(std::string_view input) {
  static const std::string kValid[] = {Jwt().Sign({"alice", false}, kNow + 3600),
                                       Jwt().Sign({"ops", true}, kNow + 3600),
                                       Jwt().Sign({std::string(128, 'x'), false}, kNow + 1)};
  if (input.empty()) return;
  const std::string& valid = kValid[static_cast<unsigned char>(input[0]) % 3];
  std::string token = valid;
  for (std::size_t i = 1; i + 1 < input.size(); i += 2) {
    const std::size_t pos = static_cast<unsigned char>(input[i]);
    if (pos < token.size())
      token[pos] = input[i + 1];
    else
      token.push_back(input[i + 1]);
  }
  if (input.size() % 2 == 0) token.pop_back();  // odd tail: also try a shortened token
  if (token != valid && VerifyJwt(token)) Fail("a tampered token verifies", token);
}

const ticketing::queue::AdmissionCodec& Admission() {
  static const ticketing::queue::AdmissionCodec codec(kSecret);
  return codec;
}

void AdmissionText(std::string_view token) {
  auto ticket = Admission().Verify(token, "alice", 7, std::nullopt);
  if (!ticket) return;
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  const auto exp_text = token.substr(d1 + 1, d2 - d1 - 1);
  std::int64_t exp = 0;
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (*ticket != token.substr(0, d1) || Admission().Sign(7, "alice", *ticket, exp) != token) {
    Fail("a verified admission token is not what Sign writes for it", token);
  }
  if (Admission().Verify(token, "bob", 7, std::nullopt) ||
      Admission().Verify(token, "alice", 8, std::nullopt)) {
    Fail("an admission token verifies for another buyer or product", token);
  }
}

void AdmissionFields(std::string_view input) {
  if (input.empty()) return;
  const std::int64_t product = static_cast<unsigned char>(input[0]);
  input.remove_prefix(1);
  const auto nl1 = input.find('\n');
  if (nl1 == std::string_view::npos) return;
  const auto nl2 = input.find('\n', nl1 + 1);
  if (nl2 == std::string_view::npos) return;
  const std::string_view user = input.substr(0, nl1);
  const std::string_view ticket = input.substr(nl1 + 1, nl2 - nl1 - 1);
  const std::string_view digits = input.substr(nl2 + 1);
  std::int64_t exp = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), exp);

  const std::string token = Admission().Sign(product, user, ticket, exp);
  const bool carried =
      !ticket.empty() && ticket.find('.') == std::string_view::npos && token.size() <= 256;
  auto back = Admission().Verify(token, user, product, std::nullopt);
  if (!carried) {
    if (back) Fail("an admission token that cannot be carried verifies", token);
    return;
  }
  if (back != std::string(ticket)) Fail("an admission token does not give its ticket back", token);
  if (exp > INT64_MIN && Admission().Verify(token, user, product, exp - 1) != std::string(ticket)) {
    Fail("an admission token is refused before its expiry", token);
  }
  if (Admission().Verify(token, user, product, exp)) {
    Fail("an admission token verifies at its expiry", token);
  }
  if (Admission().Verify(token, std::string(user) + "x", product, std::nullopt) ||
      Admission().Verify(token, user, product + 1, std::nullopt)) {
    Fail("an admission token verifies for another buyer or product", token);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      JwtText(input);
      break;
    case 1:
      JwtClaims(input);
      break;
    case 2:
      JwtTampered(input);
      break;
    case 3:
      AdmissionText(input);
      break;
    case 4:
      AdmissionFields(input);
      break;
  }
  return 0;
}
