"""Test-suite settings shared by every test module."""

from hypothesis import settings

# Property tests run on loaded CI machines and on instructors' laptops: no per-example time
# limit (a slow machine is not a failure), and the same examples on every run, so that a
# failure reproduces and a pass means the same thing everywhere.
settings.register_profile("course", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("course")
