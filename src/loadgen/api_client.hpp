#pragma once
// A small blocking HTTP/1.1 client for the admin and read calls around a run (create the
// product, read it back). Not for load: the engine has its own.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ticketing::loadgen {

struct HttpAnswer {
  int status = 0;  // 0: transport error (see body)
  std::string body;
};

class ApiClient {
 public:
  ApiClient(std::string host, std::uint16_t port,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // One request on a kept-alive connection (re-opened once if it was closed). Never throws.
  HttpAnswer Send(const std::string& method, const std::string& target,
                  const std::string& body = "", const std::string& token = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::loadgen
