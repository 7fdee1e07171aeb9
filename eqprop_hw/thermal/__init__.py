"""Finite temperature: Gibbs states, samplers, finite-nudge estimators."""
