"""FAQ knowledge base and its search."""
