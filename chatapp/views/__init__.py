"""Thin views: parse, authorise (scoped to the owner), call one service or
selector, render a template or return a stream."""
