"""Executors: own their orders and their lifecycle; PositionHold keeps what they leave behind."""
