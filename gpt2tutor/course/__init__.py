"""The course as data: course.toml and each step's lesson, skeleton, reference and check.

Nothing here is code the tutor imports by name: gpt2tutor.registry reads course.toml and these files, and
loads a step's check and reference by their module names. The checks sit above the check toolkit
(gpt2tutor.checking); the registry sits below everything.
"""
