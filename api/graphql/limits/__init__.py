"""What one request may cost: static cost analysis, rate limits and subscription caps."""
