"""Lesions: the spec of one lesion, where it goes, its shape, its inside, and how it is drawn."""
