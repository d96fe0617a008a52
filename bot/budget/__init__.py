"""Money: prices, the cost ledger, and the budget guard."""
