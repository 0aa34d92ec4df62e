"""The benchmark: synthetic MAP-shaped graphs and the script that measures them."""
