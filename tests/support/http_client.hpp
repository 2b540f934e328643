#pragma once
// HTTP clients for integration tests, on Beast: a blocking keep-alive client for step-by-step
// tests, and Concurrent() for many requests at once over their own connections.
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ticketing::testing {

struct Reply {
  int status = 0;  // 0: transport error
  std::string body;
  boost::json::value json;  // null when the body is not JSON
  std::string ErrorCode() const;  // error.code, or "" when absent
};

struct Call {
  std::string method = "POST";
  std::string target;
  std::string body;
  std::string token;  // bearer token, if any
  std::vector<std::pair<std::string, std::string>> headers = {};  // extra request headers
};

class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, std::string host = "127.0.0.1");
  // With a positive `ms`, a request whose write or answer takes longer fails (status 0) and its
  // connection is dropped; 0 (the default) waits as long as the server takes.
  void set_timeout_ms(int ms);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on a kept-alive connection (reconnecting once if it was closed).
  Reply Send(const Call& call);
  Reply Get(const std::string& target, const std::string& token = "") {
    return Send({"GET", target, "", token});
  }
  Reply Post(const std::string& target, const std::string& body, const std::string& token = "") {
    return Send({"POST", target, body, token});
  }
  // Writes raw bytes on a fresh connection and returns what the server answers until it closes
  // (or 5 s pass).
  std::string Raw(const std::string& bytes);

 private:
  struct Impl;
  Impl* impl_;
};

// The value of one series of the server's /metrics page, e.g.
// `ticketing_events_total{event="rate_limited"}` (-1 if the page does not have it).
long long MetricValue(std::uint16_t port, const std::string& series);

// Runs every call at once, each on its own connection; replies in the calls' order.
std::vector<Reply> Concurrent(std::uint16_t port, const std::vector<Call>& calls);

}  // namespace ticketing::testing
