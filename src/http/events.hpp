#pragma once
// Server-sent events for the operator dashboard (GET /admin/events): one sampler per process
// takes every product's figures and line (each interval while anyone listens, every fifth one
// otherwise), and every subscriber is sent each new sample. Bounded: a cap on subscribers (503 past it), a heartbeat so a dead client is found,
// a write deadline so a client that stops reading is dropped, a maximum stream life (the browser
// reconnects), and no subscriber ever blocks an I/O thread (timers and async writes only).
#include "http/server.hpp"
#include "purchase/service.hpp"
#include "queue/service.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace ticketing::http {

struct EventHubOptions {
  int max_subscribers = 32;                     // SSE_MAX_SUBSCRIBERS
  std::chrono::milliseconds interval{1000};     // SSE_INTERVAL_MS: one sample per interval
  std::chrono::seconds heartbeat{15};           // a comment line when nothing else was sent
  std::chrono::seconds write_timeout{10};       // a write not done by then ends the stream
  std::chrono::seconds max_life{3600};          // then the stream ends; EventSource reconnects
  std::size_t history = 900;                    // samples kept for a dashboard opened late
  std::size_t max_products = 50;                // products sampled (the first by id)
};

class EventHub {
 public:
  explicit EventHub(EventHubOptions options = {});

  // The body the route answers with: the reconnect hint, the samples kept so far (event
  // `history`, a JSON array) and the latest (event `snapshot`).
  std::string Opening() const;

  // Server::ServerOptions::stream: takes over a connection whose handler answered 200
  // text/event-stream with `head` (its body is the opening), and sends each new sample until the
  // client goes, a write times out, the stream's life ends or `stopping`. Past the subscriber
  // cap it answers 503 TOO_MANY_SUBSCRIBERS instead.
  net::awaitable<void> Serve(beast::tcp_stream& stream, Response head,
                             const std::atomic<bool>& stopping);

  // Samples every interval while anyone listens, every fifth one otherwise (so the history
  // covers a sale from before the dashboard was opened), until Stop(). Runs on the context whose
  // services these are.
  net::awaitable<void> Run(purchase::Service& purchase, queue::Service* queue);
  void Stop() { stopped_.store(true); }

  // Adds a sample (the sampler's, or a test's).
  void Publish(boost::json::object sample);

  int subscribers() const { return subscribers_.load(); }
  const EventHubOptions& options() const { return options_; }

  // Requests answered by this process so far, and those that were 5xx, from the metrics page
  // (so the dashboard's req/s and 5xx/s need no hooks in the request path).
  struct Totals {
    double requests = 0;
    double errors_5xx = 0;
  };
  static Totals RequestTotals(std::string_view prometheus_text);

 private:
  EventHubOptions options_;
  std::atomic<int> subscribers_{0};
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;
  std::deque<std::string> samples_;  // serialized, oldest first
  std::uint64_t sequence_ = 0;       // samples published so far
};

}  // namespace ticketing::http
