"""Model operations: which scorer serves, training into the registry, drift, a team's rule files."""
