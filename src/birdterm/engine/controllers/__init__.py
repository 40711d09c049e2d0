"""Controllers: they read the market and their executors, and decide what executors to run."""
