"""Binance-spot-protocol exchange emulator: errors, signing, rate limits (server to come)."""
