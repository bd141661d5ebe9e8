// Print BTC's total open interest and every exchange's share, then follow two updates.
// Usage: node example.js [host:port]   (default 127.0.0.1:50051; `make simulate` serves it offline)

import { OpenInterestClient } from "./client.js";

const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const client = new OpenInterestClient(process.argv[2] ?? "127.0.0.1:50051");
try {
  const [btc] = (await client.getOpenInterest("BTC")).symbols;
  console.log(`${btc.symbol}: ${usd.format(btc.totalOiUsd)} across ${btc.exchangeCount} exchanges`);
  for (const exchange of btc.exchanges) {
    const coins = exchange.oiContracts === undefined ? "" : `  ${exchange.oiContracts.toFixed(2)} BTC`;
    console.log(`  ${exchange.exchange.padEnd(14)} ${usd.format(exchange.oiUsd).padStart(20)}${coins}`);
  }
  let updates = 0;
  for await (const update of client.watchOpenInterest(["BTC"])) {
    const total = update.symbols[0]?.totalOiUsd;
    console.log(`watch ${new Date(Number(update.timestamp)).toISOString()} ${usd.format(total ?? 0)}`);
    if (++updates === 2) break;
  }
} catch (error) {
  console.error(`error: ${error.message}`); // e.g. "14 UNAVAILABLE: No connection established"
  process.exitCode = 1;
} finally {
  client.close();
}
