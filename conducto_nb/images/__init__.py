"""co.Image: an image a node runs in, described by Conducto's fields and built on demand.

Read first: image.py (the `Image` class and its fields' meaning), fields.py (their checks and
aliases), content_hash.py (the tag: a hash of everything the build reads), dockerfile.py and
context.py (what is built), build.py (building, once per tag, with progress), pin.py (git
code pinned to one commit when a run starts). docker_sdk.py is how the whole package imports
the docker SDK.

May import: errors. It is the lowest concept: a node's `image` parameter holds an Image.
"""
