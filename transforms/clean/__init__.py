"""clean: pages to articles (main text, metadata, identity keys)."""

from newsbeam.transforms.clean.extract import clean_page

__all__ = ["clean_page"]
