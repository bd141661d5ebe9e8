// Runs against a live oi-service: OI_GRPC_TARGET=host:port node --test
// (tests/test_node_client.py starts the service on the simulator and runs this).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Convention, grpc, OpenInterestClient, SourceState, VenueType } from "../client.js";

const target = process.env.OI_GRPC_TARGET;
const cents = (value) => Math.round(value * 100);

describe("OpenInterestClient against a running service", { skip: !target && "set OI_GRPC_TARGET=host:port" }, () => {
  /** @type {OpenInterestClient} */
  let client;
  before(() => {
    client = new OpenInterestClient(target);
  });
  after(() => client.close());

  test("getOpenInterest: one symbol with exchanges whose figures sum to the total", async () => {
    const reply = await client.getOpenInterest("btc");
    assert.equal(reply.symbols.length, 1);
    const [btc] = reply.symbols;
    assert.equal(btc.symbol, "BTC");
    assert.ok(btc.exchanges.length > 0, "no exchange reports BTC");
    assert.equal(btc.exchangeCount, btc.exchanges.length);
    const sum = btc.exchanges.reduce((total, exchange) => total + cents(exchange.oiUsd), 0);
    assert.ok(Math.abs(sum - cents(btc.totalOiUsd)) <= 1, `sum ${sum} != total ${btc.totalOiUsd}`);
    for (const exchange of btc.exchanges) {
      assert.ok(exchange.oiUsd > 0 && exchange.updatedAt > 0n, JSON.stringify(exchange, (_, v) => `${v}`));
    }
    assert.equal(typeof reply.timestamp, "bigint");
  });

  test("getOpenInterest: all symbols, ordered by total, BTC among them", async () => {
    const { symbols } = await client.getOpenInterest();
    assert.ok(symbols.some((s) => s.symbol === "BTC" && s.exchanges.length === 0));
    const totals = symbols.map((s) => s.totalOiUsd);
    assert.deepEqual(totals, [...totals].sort((a, b) => b - a));
  });

  test("errors carry the gRPC status: NOT_FOUND, INVALID_ARGUMENT", async () => {
    await assert.rejects(client.getOpenInterest("NOPE"), { code: grpc.status.NOT_FOUND });
    await assert.rejects(client.getOpenInterest("not a symbol!"), { code: grpc.status.INVALID_ARGUMENT });
  });

  test("watchOpenInterest: the current state, then a later snapshot; leaving the loop ends the call", async () => {
    const timestamps = [];
    for await (const update of client.watchOpenInterest(["BTC"])) {
      assert.deepEqual(
        update.symbols.map((s) => s.symbol),
        ["BTC"],
      );
      assert.ok(update.symbols[0].exchanges.length > 0);
      timestamps.push(update.timestamp);
      if (timestamps.length === 2) break;
    }
    assert.equal(timestamps.length, 2);
    assert.ok(timestamps[1] > timestamps[0], `${timestamps}`);
  });

  test("listMarkets: BTC's markets with their convention, ordered by USD", async () => {
    const reply = await client.listMarkets("BTC");
    assert.equal(reply.symbol, "BTC");
    assert.ok(reply.markets.length > 0);
    for (const market of reply.markets) {
      assert.ok(market.source && market.venueSymbol, `${market.source} ${market.venueSymbol}`);
      assert.notEqual(market.convention, Convention.UNSPECIFIED, market.venueSymbol);
      assert.notEqual(market.venueType, VenueType.UNSPECIFIED, market.venueSymbol);
      assert.ok(market.oiUsd > 0);
    }
    const usd = reply.markets.map((m) => m.oiUsd);
    assert.deepEqual(usd, [...usd].sort((a, b) => b - a));
    const source = reply.markets[0].source;
    const one = await client.listMarkets("BTC", { source });
    assert.ok(one.markets.length > 0 && one.markets.every((m) => m.source === source));
  });

  test("getSymbolStats: BTC's splits add up to its total", async () => {
    const { symbols } = await client.getSymbolStats("BTC");
    assert.equal(symbols.length, 1);
    const [stats] = symbols;
    assert.equal(stats.symbol, "BTC");
    assert.ok(stats.totalOiUsd > 0 && stats.exchangeCount > 0);
    assert.ok(Math.abs(cents(stats.oiUsdCex + stats.oiUsdDex) - cents(stats.totalOiUsd)) <= 1);
    assert.ok(stats.priceUsd > 0, "BTC's markets use a price");
  });

  test("watchSymbolStats: the current statistics first", async () => {
    for await (const update of client.watchSymbolStats(["BTC"])) {
      assert.equal(update.symbols[0]?.symbol, "BTC");
      break;
    }
  });

  test("listSources: every source has a real state", async () => {
    const { sources } = await client.listSources();
    assert.ok(sources.length > 0);
    for (const source of sources) {
      assert.notEqual(source.state, SourceState.UNSPECIFIED, source.source);
    }
    assert.ok(sources.some((s) => s.state === SourceState.OK));
  });
});
