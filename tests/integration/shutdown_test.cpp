// SIGTERM under load: many connections reserve, confirm and read while the server is told to
// stop. Every request must get a complete HTTP answer (success, a 4xx, or a clean 503), or find
// its connection refused or closed before any byte of an answer came; never a cut-off answer,
// a reset in the middle of one, or another 5xx. The server exits 0 and the books balance.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/tokens.hpp"

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// How one request ended.
enum class End {
  kAnswered,      // a complete response (status line, headers, the whole body)
  kRefused,       // connect() refused: the server no longer listens
  kClosedUnsent,  // the connection was closed (FIN or RST) before any byte of an answer
  kTruncated,     // some bytes of an answer, then the connection ended
  kTimedOut,      // no complete answer within 20 s
};

struct Tally {
  std::mutex mu;
  std::map<End, int> ends;
  std::map<int, int> statuses;
  std::vector<std::string> bad;  // descriptions of what must not happen
  void Add(End e, int status = 0, const std::string& what = "") {
    std::lock_guard lock(mu);
    ++ends[e];
    if (e == End::kAnswered) ++statuses[status];
    if (!what.empty() && bad.size() < 20) bad.push_back(what);
  }
};

// A blocking client on one keep-alive connection at a time.
class Client {
 public:
  explicit Client(std::uint16_t port) : port_(port) {}
  ~Client() { Close(); }

  // Sends one request and reads its answer. `status`/`body` are set when answered.
  End Request(const std::string& bytes, int& status, std::string& body, bool& closes) {
    if (fd_ < 0) {
      fd_ = socket(AF_INET, SOCK_STREAM, 0);
      timeval tv{20, 0};
      setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      int one = 1;
      setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port_);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        Close();
        // A reset during the handshake: the listener closed with this connection in its queue.
        return err == ECONNREFUSED || err == ECONNRESET ? End::kRefused : End::kClosedUnsent;
      }
    }
    for (std::size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        Close();
        return End::kClosedUnsent;
      }
      sent += static_cast<std::size_t>(n);
    }
    std::string in;
    std::size_t head_end = std::string::npos, need = 0;
    char buf[16384];
    for (;;) {
      if (head_end != std::string::npos && in.size() >= need) break;
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        Close();
        return End::kTimedOut;
      }
      if (n <= 0) {
        Close();
        return in.empty() ? End::kClosedUnsent : End::kTruncated;
      }
      in.append(buf, static_cast<std::size_t>(n));
      if (head_end == std::string::npos) {
        head_end = in.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          const std::string head = in.substr(0, head_end);
          const auto cl = head.find("\r\nContent-Length: ");
          const std::size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 18));
          need = head_end + 4 + length;
          status = std::stoi(head.substr(9, 3));
          closes = head.find("\r\nConnection: close") != std::string::npos;
        }
      }
    }
    body = in.substr(head_end + 4, need - head_end - 4);
    if (closes) Close();
    return End::kAnswered;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::uint16_t port_;
  int fd_ = -1;
};

std::string Post(const std::string& target, const std::string& body, const std::string& token) {
  return "POST " + target + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

TEST(Shutdown, SigtermUnderLoadAnswersOrCleanlyRefusesEveryRequest) {
  const auto& services = SharedServices();
  ServerProcess server(
      services,
      {{"IO_THREADS", "2"}, {"DB_POOL_SIZE", "4"}, {"RATE_LIMIT_RESERVE_ADDRESS", "off"}});
  server.Start();
  Stores stores(services);
  HttpClient admin(server.port());
  auto created =
      admin.Post("/admin/products", R"({"name":"Drain","price":5,"stock":100000,"perUserLimit":1})",
                 Token("ops", true));
  ASSERT_EQ(created.status, 201) << created.body;
  const auto product = created.json.at("id").as_int64();

  constexpr int kClients = 48;
  Tally tally;
  std::atomic<bool> signalled{false};
  std::atomic<int> answered{0};
  std::atomic<long long> held{0};  // reserves answered 201
  std::atomic<long long> sold{0};  // confirms answered 201
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Client c(server.port());
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      for (int n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
        // A new buyer per round: reserve, confirm, read the product.
        const std::string token = Token("drain-" + std::to_string(i) + "-" + std::to_string(n));
        const std::string reserve =
            Post("/purchase/reserve", json::serialize(json::object{{"productId", product}}), token);
        int status = 0;
        std::string body;
        bool closes = false;
        auto describe = [&](const char* what, End e) {
          return std::string(what) + ": " +
                 (e == End::kTruncated  ? "truncated answer"
                  : e == End::kTimedOut ? "timed out"
                                        : "") +
                 (e == End::kAnswered ? "status " + std::to_string(status) + " " + body : "");
        };
        auto record = [&](const char* what, End e) {
          const bool bad_status = e == End::kAnswered && status >= 500 && status != 503;
          const bool bad = e == End::kTruncated || e == End::kTimedOut || bad_status;
          if (e == End::kAnswered) answered.fetch_add(1);
          tally.Add(e, status, bad ? describe(what, e) : "");
          return e;
        };
        End e = record("reserve", c.Request(reserve, status, body, closes));
        if (e == End::kRefused && signalled.load()) return;  // the server is gone
        if (e != End::kAnswered || status != 201) continue;
        held.fetch_add(1);
        std::string rid;
        try {
          rid = std::string(json::parse(body).at("reservationId").as_string());
        } catch (const std::exception&) {
          tally.Add(End::kTruncated, 0, "reserve: 201 without a reservation id: " + body);
          continue;
        }
        e = record("confirm",
                   c.Request(Post("/purchase/confirm",
                                  json::serialize(json::object{{"reservationId", rid}}), token),
                             status, body, closes));
        if (e == End::kRefused && signalled.load()) return;
        if (e == End::kAnswered && status == 201) sold.fetch_add(1);
        e = record("product", c.Request("GET /products/" + std::to_string(product) +
                                            " HTTP/1.1\r\nHost: t\r\n\r\n",
                                        status, body, closes));
        if (e == End::kRefused && signalled.load()) return;
      }
    });
  }

  // Load first, then SIGTERM in the middle of it.
  for (int i = 0; i < 400 && answered.load() < 1500; ++i)
    std::this_thread::sleep_for(milliseconds(25));
  const int before = answered.load();
  ASSERT_GT(before, 100) << "the load never got going";
  signalled = true;
  ASSERT_EQ(kill(server.pid(), SIGTERM), 0);
  const int status = server.WaitExit(40);
  for (auto& t : clients) t.join();

  ASSERT_NE(status, -1) << "the server did not exit within 40 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "exit status " << status << "; log: " << server.log_path();

  std::string summary;
  for (const auto& [s, n] : tally.statuses)
    summary += std::to_string(s) + ":" + std::to_string(n) + " ";
  std::cout << "answered before SIGTERM: " << before << "; statuses " << summary << "; refused "
            << tally.ends[End::kRefused] << ", closed before an answer "
            << tally.ends[End::kClosedUnsent] << "\n";
  EXPECT_EQ(tally.ends[End::kTruncated], 0);
  EXPECT_EQ(tally.ends[End::kTimedOut], 0);
  for (const auto& b : tally.bad) ADD_FAILURE() << b;
  EXPECT_GT(tally.ends[End::kRefused], 0) << "no client saw the listener closed";
  EXPECT_GT(answered.load(), before) << "nothing was answered after SIGTERM";

  // Books: units in orders + database stock = total; Redis available + live holds = stock.
  stores.ExpectInvariants(product);
  // And no reserve ran without its answer reaching the buyer: every unit taken (held or sold)
  // is one a 201 told a buyer about.
  EXPECT_EQ(100000 - stores.Available(product), held.load())
      << "units taken by reserves whose answer never came";
  EXPECT_EQ(
      stores.SqlInt("SELECT COUNT(*) FROM orders WHERE product_id = " + std::to_string(product)),
      sold.load())
      << "orders made by confirms whose answer never came";
}

}  // namespace
}  // namespace ticketing::testing
