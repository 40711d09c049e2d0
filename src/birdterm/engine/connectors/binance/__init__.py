"""Binance spot connector: public market data (REST, streams, local books) and trading."""
