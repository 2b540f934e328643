// The API as a pure function: routing, auth, validation and outcome mapping, with a fake
// purchase service (storage is covered by the integration tests).
#include "http/api.hpp"
#include "http/api_test_support.hpp"
#include "http/fields.hpp"
#include "http/fake_services.hpp"

#include "http/response.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <deque>

namespace ticketing::http {
namespace {

namespace json = boost::json;
using purchase::Outcome;

const std::string kSecret(32, 'k');
constexpr std::int64_t kNow = 1'800'000'000;

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : jwt_(kSecret), api_(fake_, jwt_, [] { return kNow; }) {}

  Response Call(bhttp::verb method, std::string target, std::string body = "",
                std::string token = "") {
    return CallApi(api_, method, std::move(target), std::move(body), token);
  }
  std::string Buyer(std::string id = "alice") { return jwt_.Sign({id, false}, kNow + 60); }
  std::string Admin() { return jwt_.Sign({"ops", true}, kNow + 60); }
  static json::value Body(const Response& r) { return ResponseJson(r); }
  static std::string Code(const Response& r) { return ErrorCode(r); }

  FakePurchase fake_;
  auth::JwtCodec jwt_;
  Api api_;
};

TEST_F(ApiTest, ReserveTakesUserFromTokenNotBody) {
  auto r = Call(bhttp::verb::post, "/purchase/reserve",
                R"({"productId":7,"quantity":2,"user":"mallory"})", Buyer("alice"));
  EXPECT_EQ(r.result_int(), 201);
  EXPECT_EQ(fake_.last_user, "alice");
  EXPECT_EQ(fake_.last_product, 7);
  EXPECT_EQ(fake_.last_quantity, 2);
  auto b = Body(r);
  EXPECT_EQ(b.at("expiresIn").as_int64(), 300);
  EXPECT_EQ(b.at("quantity").as_int64(), 2);
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
}

// A product the service knows is sold out is answered without starting the reserve; a retry
// with an Idempotency-Key still reaches it (it must find its hold).
TEST_F(ApiTest, KnownSoldOutIsAnsweredWithoutAReserve) {
  fake_.known_sold_out = true;
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
  EXPECT_EQ(r.result_int(), 409);
  EXPECT_EQ(Code(r), "SOLD_OUT");
  EXPECT_EQ(fake_.reserves, 0);
  auto keyed = CallApi(api_, bhttp::verb::post, "/purchase/reserve", R"({"productId":7})",
                       Buyer(), {{"Idempotency-Key", "retry-1"}});
  EXPECT_EQ(keyed.result_int(), 201);
  EXPECT_EQ(fake_.reserves, 1);
  // Bad input is still refused first.
  EXPECT_EQ(Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":0})", Buyer())
                .result_int(),
            400);
}

// The sold-out answer comes before the token's signature is checked (it is the same for every
// caller); no bearer token at all is still 401, and a product not known sold out checks it.
TEST_F(ApiTest, KnownSoldOutIsAnsweredBeforeTheTokenIsVerified) {
  fake_.known_sold_out = true;
  const std::string forged = Buyer() + "x";
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", forged);
  EXPECT_EQ(r.result_int(), 409);
  EXPECT_EQ(Code(r), "SOLD_OUT");
  auto none = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})");
  EXPECT_EQ(none.result_int(), 401);
  EXPECT_EQ(Code(none), "UNAUTHORIZED");
  auto keyed = CallApi(api_, bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", forged,
                       {{"Idempotency-Key", "retry-1"}});
  EXPECT_EQ(keyed.result_int(), 401);
  fake_.known_sold_out = false;
  auto in_stock = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", forged);
  EXPECT_EQ(in_stock.result_int(), 401);
  EXPECT_EQ(fake_.reserves, 0);
}

// Answers that need no I/O come from Api::Serve at once, with no coroutine to run: a sold-out
// reserve, /health, a refused token, an unknown route. A reserve that goes to the service comes
// as a coroutine.
TEST_F(ApiTest, AnswersThatNeedNoIoComeAtOnce) {
  fake_.known_sold_out = true;
  std::deque<Request> requests;  // each lives until its answer is there
  const auto serve = [&](bhttp::verb method, std::string target, std::string body,
                         std::string token) {
    Request& req = requests.emplace_back(method, target, 11);
    if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
    req.body() = std::move(body);
    return api_.Serve(req);
  };
  const auto at_once = [](Reply reply, int status) {
    ASSERT_TRUE(reply.now) << status;
    EXPECT_FALSE(reply.later);
    EXPECT_EQ(reply.now->result_int(), status);
  };
  at_once(serve(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer()), 409);
  at_once(serve(bhttp::verb::get, "/health", "", ""), 200);
  at_once(serve(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", ""), 401);
  at_once(serve(bhttp::verb::get, "/nowhere", "", ""), 404);
  EXPECT_EQ(fake_.reserves, 0);
  fake_.known_sold_out = false;
  auto reserve = serve(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
  EXPECT_FALSE(reserve.now);
  ASSERT_TRUE(reserve.later);
  net::io_context ctx;
  auto fut = net::co_spawn(ctx, std::move(*reserve.later), net::use_future);
  ctx.run();
  const auto res = fut.get();
  EXPECT_EQ(res.result_int(), 201);
  EXPECT_EQ(fake_.reserves, 1);
}

TEST_F(ApiTest, QuantityDefaultsToOne) {
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
  EXPECT_EQ(r.result_int(), 201);
  EXPECT_EQ(fake_.last_quantity, 1);
}

TEST_F(ApiTest, OutcomesMapToStatusAndCode) {
  struct Case {
    Outcome o;
    unsigned status;
    const char* code;
  } cases[] = {{Outcome::kSoldOut, 409, "SOLD_OUT"},
               {Outcome::kLimitReached, 409, "LIMIT_REACHED"},
               {Outcome::kProductNotFound, 404, "PRODUCT_NOT_FOUND"},
               {Outcome::kSalePaused, 409, "SALE_PAUSED"}};
  for (const auto& c : cases) {
    fake_.next = c.o;
    auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
    EXPECT_EQ(r.result_int(), c.status);
    EXPECT_EQ(Code(r), c.code);
  }
  fake_.next = Outcome::kReservationExpired;
  auto r = Call(bhttp::verb::post, "/purchase/confirm", R"({"reservationId":"x"})", Buyer());
  EXPECT_EQ(r.result_int(), 410);
  EXPECT_EQ(Code(r), "RESERVATION_EXPIRED");
  fake_.next = Outcome::kReservationNotFound;
  r = Call(bhttp::verb::post, "/purchase/confirm", R"({"reservationId":"x"})", Buyer());
  EXPECT_EQ(r.result_int(), 404);
  EXPECT_EQ(Code(r), "RESERVATION_NOT_FOUND");
}

TEST_F(ApiTest, ConfirmCreatedThen200) {
  auto r = Call(bhttp::verb::post, "/purchase/confirm", R"({"reservationId":"7-abc"})", Buyer());
  EXPECT_EQ(r.result_int(), 201);
  auto b = Body(r);
  EXPECT_EQ(b.at("orderId").as_int64(), 5);
  EXPECT_DOUBLE_EQ(b.at("totalPrice").to_number<double>(), 19.99);
}

TEST_F(ApiTest, BadInputIs400WithJsonError) {
  const char* bodies[] = {"",
                          "{",
                          "[1]",
                          R"({"productId":"7"})",
                          R"({"productId":7.5})",
                          R"({"productId":-1})",
                          R"({"productId":0})",
                          R"({"productId":7,"quantity":0})",
                          R"({"productId":7,"quantity":-3})",
                          R"({"productId":7,"quantity":1e12})",
                          R"({"productId":7,"quantity":18446744073709551615})",
                          R"({"productId":7,"quantity":"2"})",
                          R"({"quantity":1})"};
  for (const char* b : bodies) {
    auto r = Call(bhttp::verb::post, "/purchase/reserve", b, Buyer());
    EXPECT_EQ(r.result_int(), 400) << b;
    EXPECT_EQ(Code(r), "INVALID_REQUEST") << b;
  }
}

TEST_F(ApiTest, AuthErrors) {
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})");
  EXPECT_EQ(r.result_int(), 401);
  EXPECT_EQ(Code(r), "UNAUTHORIZED");
  auto forged = auth::JwtCodec(std::string(32, 'z')).Sign({"alice", false}, kNow + 60);
  r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", forged);
  EXPECT_EQ(r.result_int(), 401);
  auto expired = jwt_.Sign({"alice", false}, kNow - 1);
  r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", expired);
  EXPECT_EQ(r.result_int(), 401);
  r = Call(bhttp::verb::post, "/admin/products", R"({"name":"x","price":1,"stock":1})", Buyer());
  EXPECT_EQ(r.result_int(), 403);
  EXPECT_EQ(Code(r), "FORBIDDEN");
}

// The API remembers verified tokens (auth::TokenCache); what it accepts must not change.
TEST_F(ApiTest, RememberedTokenStillHonoursExpiry) {
  std::int64_t now = kNow;
  Api api(fake_, jwt_, [&now] { return now; });
  const auto token = jwt_.Sign({"alice", false}, kNow + 10);
  auto reserve = [&](const std::string& t) {
    return CallApi(api, bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", t);
  };
  EXPECT_EQ(reserve(token).result_int(), 201);
  EXPECT_EQ(reserve(token).result_int(), 201);  // from the cache
  EXPECT_EQ(fake_.last_user, "alice");
  now = kNow + 10;  // exp reached: the cached token is refused like a fresh one
  auto r = reserve(token);
  EXPECT_EQ(r.result_int(), 401);
  EXPECT_EQ(Code(r), "UNAUTHORIZED");
  now = kNow;  // and it was not kept as valid meanwhile: verified afresh, still good before exp
  EXPECT_EQ(reserve(token).result_int(), 201);
}

TEST_F(ApiTest, RememberedTokenIsMatchedExactly) {
  const auto alice = Buyer("alice");
  EXPECT_EQ(Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", alice)
                .result_int(),
            201);
  // Another valid token is verified afresh and gets its own identity.
  EXPECT_EQ(Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer("bob"))
                .result_int(),
            201);
  EXPECT_EQ(fake_.last_user, "bob");
  // The remembered token with a changed signature, or cut short, is refused.
  auto forged = alice;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", forged);
  EXPECT_EQ(r.result_int(), 401);
  r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})",
           alice.substr(0, alice.size() - 1));
  EXPECT_EQ(r.result_int(), 401);
  // A remembered buyer token does not become an admin one.
  r = Call(bhttp::verb::post, "/admin/products", R"({"name":"x","price":1,"stock":1})", alice);
  EXPECT_EQ(r.result_int(), 403);
  EXPECT_EQ(Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", alice)
                .result_int(),
            201);
  EXPECT_EQ(fake_.last_user, "alice");
}

// FieldOf reads what Beast's find() reads: names in any case, known (enum) or not, the first
// of repeated fields, and nothing for an absent one or a name that is only a prefix.
TEST(FieldOfTest, AgreesWithBeastsFind) {
  Request req{bhttp::verb::post, "/x", 11};
  req.set(bhttp::field::authorization, "Bearer t");
  req.insert("x-request-id", "first");
  req.insert("X-REQUEST-ID", "second");
  req.set("Idempotency-Key", "k");
  for (std::string_view name : {"Authorization", "authorization", "X-Request-Id", "idempotency-key",
                                "Idempotency-Ke", "Traceparent", ""}) {
    EXPECT_EQ(FieldOf(req, name), std::string_view(req[name])) << name;
  }
  EXPECT_EQ(FieldOf(req, "X-Request-Id"), "first");
  EXPECT_EQ(FieldOf(req, bhttp::field::authorization), "Bearer t");
  EXPECT_EQ(FieldOf(req, bhttp::field::origin), "");
}

TEST(TokenCacheTest, AgreesWithTheCodecAndEvicts) {
  auth::JwtCodec jwt(kSecret);
  auth::TokenCache cache(jwt, 1);  // one slot: every new token evicts the last
  const auto a = jwt.Sign({"alice", false}, kNow + 60);
  const auto b = jwt.Sign({"bob", true}, kNow + 60);
  for (int i = 0; i < 3; ++i) {
    const auto* who = cache.Verify(a, kNow);
    ASSERT_NE(who, nullptr);
    EXPECT_EQ(who->user, "alice");
    EXPECT_FALSE(who->admin);
    who = cache.Verify(b, kNow);
    ASSERT_NE(who, nullptr);
    EXPECT_EQ(who->user, "bob");
    EXPECT_TRUE(who->admin);
  }
  EXPECT_EQ(cache.Verify(b, kNow + 60), nullptr);  // exp is not later than now
  EXPECT_NE(cache.Verify(b, kNow + 59), nullptr);
  EXPECT_EQ(cache.Verify("", kNow), nullptr);
  EXPECT_EQ(cache.Verify(auth::JwtCodec(std::string(32, 'z')).Sign({"alice", false}, kNow + 60),
                         kNow),
            nullptr);
}

TEST(ErrorResponseTest, SameBytesAsTheJsonTree) {
  const std::pair<const char*, const char*> cases[] = {
      {"SOLD_OUT", "no units left"},
      {"NOT_FOUND", "no route for /a\"b\\c\n\x01d"},
      {"X", "caf\xc3\xa9 \x7f"},
      {"", ""}};
  for (const auto& [code, message] : cases) {
    auto r = Error(409, code, message);
    json::value tree = {{"error", {{"code", code}, {"message", message}}}};
    EXPECT_EQ(r.body(), json::serialize(tree)) << message;
    EXPECT_EQ(r.result_int(), 409);
    EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  }
}

// The 404 echoes the path, which may hold any bytes; the body must still be JSON, that is UTF-8
// (RFC 8259 §8.1): a strict client could not read the error otherwise. Found by
// fuzz/request_fuzz.cpp.
TEST_F(ApiTest, ErrorBodyIsValidJsonWhateverThePathHolds) {
  const std::string targets[] = {"/caf\xf6",          "/cut\xc3",      "/surrogate\xed\xa0\x80",
                                 "/overlong\xc0\xaf", "/big\xf4\x90\x80\x80", "/\xff\xfe",
                                 "/ok-caf\xc3\xa9"};
  for (const auto& target : targets) {
    auto r = Call(bhttp::verb::get, target);
    EXPECT_EQ(r.result_int(), 404);
    boost::system::error_code ec;
    auto body = json::parse(r.body(), ec);
    ASSERT_FALSE(ec) << r.body();
    EXPECT_EQ(body.at("error").at("code").as_string(), "NOT_FOUND");
  }
  auto r = Call(bhttp::verb::get, "/ok-caf\xc3\xa9");  // valid UTF-8 is kept as it is
  EXPECT_EQ(Body(r).at("error").at("message").as_string(), "no route for /ok-caf\xc3\xa9");
  r = Call(bhttp::verb::get, "/a\xf6" "b");  // an invalid byte becomes U+FFFD
  EXPECT_EQ(Body(r).at("error").at("message").as_string(), "no route for /a\xef\xbf\xbd" "b");
}

TEST_F(ApiTest, NumbersInsideStringsAreNotRewritten) {
  auto r = Call(bhttp::verb::post, "/admin/products",
                R"({"name":"Tour 4.5E1 \"x\" 1E3","price":0.05,"stock":1})", Admin());
  ASSERT_EQ(r.result_int(), 201) << r.body();
  EXPECT_NE(r.body().find(R"("name":"Tour 4.5E1 \"x\" 1E3")"), std::string::npos) << r.body();
  EXPECT_NE(r.body().find(R"("price":0.05,)"), std::string::npos) << r.body();
}

TEST_F(ApiTest, AdminCreateValidates) {
  auto r = Call(bhttp::verb::post, "/admin/products",
                R"({"name":"Gig","price":49.5,"stock":100,"perUserLimit":2,"holdSeconds":60})",
                Admin());
  ASSERT_EQ(r.result_int(), 201) << r.body();
  auto b = Body(r);
  EXPECT_EQ(b.at("totalStock").as_int64(), 100);
  EXPECT_DOUBLE_EQ(b.at("price").to_number<double>(), 49.5);
  EXPECT_EQ(b.at("holdSeconds").as_int64(), 60);
  const char* bad[] = {R"({"price":1,"stock":1})", R"({"name":"","price":1,"stock":1})",
                       R"({"name":"x","price":-1,"stock":1})",
                       R"({"name":"x","price":1.234,"stock":1})",
                       R"({"name":"x","price":1,"stock":-1})",
                       R"({"name":"x","price":1,"stock":1,"perUserLimit":0})",
                       R"({"name":"x","price":"1","stock":1})"};
  for (const char* body : bad) {
    auto res = Call(bhttp::verb::post, "/admin/products", body, Admin());
    EXPECT_EQ(res.result_int(), 400) << body;
  }
}

TEST_F(ApiTest, UnknownRouteAndMethod) {
  auto r = Call(bhttp::verb::get, "/nope");
  EXPECT_EQ(r.result_int(), 404);
  EXPECT_EQ(Code(r), "NOT_FOUND");
  r = Call(bhttp::verb::get, "/purchase/reserve", "", Buyer());
  EXPECT_EQ(r.result_int(), 405);
  EXPECT_EQ(Code(r), "METHOD_NOT_ALLOWED");
  r = Call(bhttp::verb::get, "/products/abc");
  EXPECT_EQ(r.result_int(), 404);
}

// The route table: every route it lists is answered by its handler (not 404/405), a known
// path with another method is 405 with Allow, the waiting room's routes need the waiting room.
TEST_F(ApiTest, EveryTableRouteIsAnswered) {
  WebOptions web;
  web.demo_login = true;
  api_.Configure(web);
  int routes = 0;
  for (const auto& route : Routes()) {
    if (route.needs_queue) continue;
    std::string path(route.path);
    if (auto at = path.find("{id}"); at != std::string::npos) path.replace(at, 4, "7");
    if (auto at = path.find("{file}"); at != std::string::npos) path.replace(at, 6, "sale.js");
    if (path == "/purchase/reservations") path += "?productId=7";
    const std::string token = route.access == Access::kAdmin   ? Admin()
                              : route.access == Access::kBuyer ? Buyer()
                                                               : "";
    auto r = Call(route.method, path, "{}", token);
    EXPECT_NE(r.result_int(), 405) << path;
    if (r.result_int() == 404) {
      EXPECT_NE(Code(r), "NOT_FOUND") << path;
    }
    ++routes;
  }
  EXPECT_GE(routes, 20);
}

TEST_F(ApiTest, WrongMethodIs405WithAllow) {
  auto r = Call(bhttp::verb::delete_, "/admin/products/7", "", Admin());
  EXPECT_EQ(r.result_int(), 405);
  EXPECT_EQ(Code(r), "METHOD_NOT_ALLOWED");
  EXPECT_EQ(r[bhttp::field::allow], "GET, PATCH");
  // The method is checked before the token: no need to be an admin to learn it.
  r = Call(bhttp::verb::put, "/admin/orders/3/refund");
  EXPECT_EQ(r.result_int(), 405);
  EXPECT_EQ(r[bhttp::field::allow], "POST");
  // Without a waiting room its routes do not exist.
  EXPECT_EQ(Call(bhttp::verb::get, "/queue/7").result_int(), 404);
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/products/7/extra/segments/here", "", Admin())
                .result_int(),
            404);
}

TEST_F(ApiTest, AdminInputIsValidated) {
  const std::string admin = Admin();
  auto stock = [&](const std::string& body) {
    return Call(bhttp::verb::post, "/admin/products/7/stock", body, admin);
  };
  for (const char* bad : {R"({})", R"({"add":1,"remove":1})", R"({"add":0})", R"({"remove":-2})",
                          R"({"add":1.5})", R"({"add":"1"})", R"({"take":1})", "[]", "nope"}) {
    auto r = stock(bad);
    EXPECT_EQ(r.result_int(), 400) << bad;
    EXPECT_EQ(Code(r), "INVALID_REQUEST") << bad;
  }
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/products?limit=0", "", admin).result_int(), 400);
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/products?limit=201", "", admin).result_int(), 400);
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/products?cursor=abc", "", admin).result_int(), 400);
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/audit?cursor=%zz", "", admin).result_int(), 400);
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/products/7/reservations?state=expired", "", admin)
                .result_int(),
            400);
  EXPECT_EQ(Call(bhttp::verb::get, "/admin/products?cursor=12&limit=200", "", admin).result_int(),
            200);
  EXPECT_EQ(Code(Call(bhttp::verb::post, "/admin/orders/x/refund", "", admin)), "ORDER_NOT_FOUND");
}

TEST_F(ApiTest, UnavailableIs503) {
  fake_.throw_unavailable = true;
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_EQ(Code(r), "UNAVAILABLE");
}

TEST_F(ApiTest, ReadyNamesWhatFailed) {
  auto r = Call(bhttp::verb::get, "/ready");
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_NE(r.body().find("database"), std::string::npos);
  EXPECT_EQ(Call(bhttp::verb::get, "/health").result_int(), 200);
}

TEST_F(ApiTest, ProductIsPublic) {
  auto r = Call(bhttp::verb::get, "/products/7");
  ASSERT_EQ(r.result_int(), 200);
  // Money as a person writes it, not Boost.JSON's 4.95E1; strings are left alone.
  EXPECT_NE(r.body().find(R"("price":49.5,)"), std::string::npos) << r.body();
  auto b = Body(r);
  EXPECT_EQ(b.at("available").as_int64(), 42);
  EXPECT_DOUBLE_EQ(b.at("price").to_number<double>(), 49.5);
}

}  // namespace
}  // namespace ticketing::http
