"""Measurements -> local rule -> device update, training, and the software reference beside them."""
