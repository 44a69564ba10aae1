"""WebSub (W3C Recommendation) for ``newsbeam stream``: hub discovery, signatures, subscriptions."""
