#include "purchase/order_writer.hpp"

#include "metrics/log.hpp"
#include "purchase/purchase_service.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>
#include <unistd.h>

namespace ticketing::purchase {
namespace {

// Redo the batch one order at a time (a duplicate reservation, or too little stock for all).
struct FallBack {};
struct NoStock {};

// Locks the product row first. Inserting an order takes a shared lock on it (foreign key) and
// the stock UPDATE then needs an exclusive one: two transactions (two server processes
// confirming the same product) holding the shared lock would deadlock. FOR UPDATE makes them
// queue instead.
std::int64_t Price(db::Connection& c, std::int64_t product_id, bool& found) {
  auto r = c.Execute("SELECT price_cents FROM products WHERE id = ? FOR UPDATE", {product_id});
  found = !r.rows.empty();
  return found ? std::stoll(r.rows[0].at(0).value_or("0")) : 0;
}

}  // namespace

OrderWriter::OrderWriter(db::Pool& pool, std::size_t max_batch, std::string fault)
    : pool_(pool), max_batch_(std::max<std::size_t>(1, max_batch)), fault_(std::move(fault)) {}

OrderWriter::~OrderWriter() {
  // A worker posts its waiters' completions before it looks at the queue again, so a waiter
  // can resume (and its owner destroy this writer) while the worker is still inside.
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return draining_ == 0; });
}

net::awaitable<OrderResult> OrderWriter::Write(OrderRequest request) {
  // A plain function returning the operation: no coroutine frame copies the request.
  return net::async_initiate<decltype(net::use_awaitable), void(std::exception_ptr, OrderResult)>(
      [this](auto handler, OrderRequest r) {
        // Tracked: the waiter's io_context must not run out of work while it waits.
        net::any_io_executor ex = net::prefer(net::get_associated_executor(handler),
                                              net::execution::outstanding_work.tracked);
        Enqueue(Pending{std::move(r), Handler(std::move(handler)), std::move(ex)});
      },
      net::use_awaitable, std::move(request));
}

void OrderWriter::Enqueue(Pending pending) {
  const auto product_id = pending.request.product_id;
  bool start = false;
  {
    std::lock_guard lock(mu_);
    auto& q = queues_[product_id];
    q.waiting.push_back(std::move(pending));
    start = !q.writing;
    q.writing = true;
    if (start) ++draining_;
  }
  if (start) {
    pool_.Submit([this, product_id](db::Connection* c, std::exception_ptr err) {
      Drain(c, std::move(err), product_id);
    });
  }
}

void OrderWriter::Drain(db::Connection* c, std::exception_ptr connect_error,
                        std::int64_t product_id) {
  for (;;) {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(mu_);
      auto it = queues_.find(product_id);
      auto& waiting = it->second.waiting;
      if (waiting.empty() || (c && c->Broken())) {
        if (waiting.empty()) {
          queues_.erase(it);
          if (--draining_ == 0) idle_.notify_all();  // under mu_: see ~OrderWriter
        } else {
          // This worker's connection broke: a fresh job (and connection) takes over the rest.
          pool_.Submit([this, product_id](db::Connection* next, std::exception_ptr err) {
            Drain(next, std::move(err), product_id);
          });
        }
        return;
      }
      const std::size_t n = std::min(max_batch_, waiting.size());
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(waiting.front()));
        waiting.pop_front();
      }
    }
    std::vector<Outcome> outcomes;
    if (c) {
      outcomes = WriteBatch(*c, batch);
    } else {
      outcomes.assign(batch.size(), Outcome{connect_error, {}});
    }
    // Each waiter resumes on its own executor, never on this worker.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      net::post(batch[i].executor,
                net::append(std::move(batch[i].handler), std::move(outcomes[i].error),
                            std::move(outcomes[i].result)));
    }
  }
}

std::vector<OrderWriter::Outcome> OrderWriter::WriteBatch(db::Connection& c,
                                                          const std::vector<Pending>& batch) {
  if (batch.size() == 1) return {WriteOne(c, batch[0].request)};
  const std::int64_t product_id = batch[0].request.product_id;
  std::int64_t units = 0;
  for (const auto& p : batch) units += p.request.quantity;

  bool commit_sent = false;
  std::vector<Outcome> out(batch.size());
  try {
    std::int64_t price = 0;
    db::Transaction(c, [&] {
      bool found = false;
      price = Price(c, product_id, found);
      if (!found) throw FallBack{};
      std::string sql =
          "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
          "total_price_cents) VALUES ";
      std::vector<db::Param> params;
      params.reserve(batch.size() * 6);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& r = batch[i].request;
        sql += i ? ", (?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?)";
        params.insert(params.end(), {r.reservation_id, product_id, r.user,
                                     std::int64_t{r.quantity}, price, price * r.quantity});
      }
      c.Execute(sql, params);
      auto upd = c.Execute("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
                           {units, product_id, units});
      if (upd.affected_rows == 0) throw FallBack{};
      CrashIf("crash_before_commit");
      commit_sent = true;
    });
    transactions_.fetch_add(1);
    orders_.fetch_add(batch.size());
    CrashIf("crash_after_commit");
  } catch (const FallBack&) {
    for (std::size_t i = 0; i < batch.size(); ++i) out[i] = WriteOne(c, batch[i].request);
    return out;
  } catch (const db::QueryError& e) {
    if (e.code != db::kErrDuplicateKey) {
      out.assign(batch.size(), Outcome{std::current_exception(), {}});
      return out;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) out[i] = WriteOne(c, batch[i].request);
    return out;
  } catch (const db::Unavailable& e) {
    auto err = commit_sent ? std::make_exception_ptr(CommitUnknown(e.what()))
                           : std::current_exception();
    out.assign(batch.size(), Outcome{err, {}});
    return out;
  } catch (...) {
    out.assign(batch.size(), Outcome{std::current_exception(), {}});
    return out;
  }

  // Committed. The order ids: one read (auto-increment values of one multi-row insert need
  // not be consecutive under innodb_autoinc_lock_mode=2, MySQL 8's default).
  try {
    std::string sql = "SELECT id, reservation_id, product_id, quantity, total_price_cents "
                      "FROM orders WHERE reservation_id IN (";
    std::vector<db::Param> params;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      sql += i ? ", ?" : "?";
      params.emplace_back(batch[i].request.reservation_id);
    }
    sql += ")";
    auto rows = c.Execute(sql, params);
    std::map<std::string, Order> by_rid;
    for (const auto& row : rows.rows) {
      Order o = OrderFromRow(row);
      by_rid.emplace(o.reservation_id, o);
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto it = by_rid.find(batch[i].request.reservation_id);
      if (it == by_rid.end()) {
        out[i] = Outcome{std::make_exception_ptr(std::runtime_error("committed order not found")), {}};
      } else {
        out[i] = Outcome{nullptr, OrderResult{OrderResult::kCommitted, it->second}};
      }
    }
  } catch (const std::exception& e) {
    // Committed for sure, ids unknown: the sweeper settles these holds from the database.
    out.assign(batch.size(),
               Outcome{std::make_exception_ptr(CommitUnknown(
                           std::string("order committed, id not read back: ") + e.what())),
                       {}});
  }
  return out;
}

OrderWriter::Outcome OrderWriter::WriteOne(db::Connection& c, const OrderRequest& r) {
  bool commit_sent = false;
  try {
    auto result = db::Transaction(c, [&]() -> OrderResult {
      bool found = false;
      const std::int64_t price = Price(c, r.product_id, found);
      if (!found) throw NoStock{};
      const std::int64_t total = price * r.quantity;
      auto ins = c.Execute(
          "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
          "total_price_cents) VALUES (?, ?, ?, ?, ?, ?)",
          {r.reservation_id, r.product_id, r.user, std::int64_t{r.quantity}, price, total});
      auto upd = c.Execute("UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
                           {std::int64_t{r.quantity}, r.product_id, std::int64_t{r.quantity}});
      if (upd.affected_rows == 0) throw NoStock{};
      CrashIf("crash_before_commit");
      commit_sent = true;
      return OrderResult{OrderResult::kCommitted,
                         Order{static_cast<std::int64_t>(ins.insert_id), r.reservation_id,
                               r.product_id, r.quantity, total}};
    });
    transactions_.fetch_add(1);
    orders_.fetch_add(1);
    CrashIf("crash_after_commit");
    return Outcome{nullptr, result};
  } catch (const NoStock&) {
    return Outcome{nullptr, OrderResult{OrderResult::kNoStock, {}}};
  } catch (const db::QueryError& e) {
    if (e.code == db::kErrDuplicateKey) {
      try {
        if (auto existing = SelectOrder(c, r.reservation_id)) {
          return Outcome{nullptr, OrderResult{OrderResult::kDuplicate, *existing}};
        }
      } catch (...) {
        return Outcome{std::current_exception(), {}};
      }
    }
    return Outcome{std::current_exception(), {}};
  } catch (const db::Unavailable& e) {
    return Outcome{commit_sent ? std::make_exception_ptr(CommitUnknown(e.what()))
                               : std::current_exception(),
                   {}};
  } catch (...) {
    return Outcome{std::current_exception(), {}};
  }
}

void OrderWriter::CrashIf(const char* point) const {
  if (fault_ != point) return;
  log::Error("fault_injection", {{"crash", point}});
  spdlog::default_logger_raw()->flush();
  kill(getpid(), SIGKILL);
  _exit(137);
}

}  // namespace ticketing::purchase
