"""Curate: repair leaky MCQs so that text alone is at chance."""
