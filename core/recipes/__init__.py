"""Recipes: the catalogue of reproductions of the source reports and the teaching pitfalls."""
