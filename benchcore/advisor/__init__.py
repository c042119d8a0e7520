"""Where should I cache? Cache models, the advisor and its verification run."""
