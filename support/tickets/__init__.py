"""Donors, orders, suppliers, municipalities and complaint tickets."""
