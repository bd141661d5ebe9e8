"""History we record ourselves (API.md section 6): candles per symbol and per symbol and source."""
