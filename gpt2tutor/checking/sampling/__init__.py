"""Check 14's toolkit: stand-in models (stand_ins), calling the learner's generation functions (calls), and the
diagnosis of sampling slips, by the numbers the learner's code computed (slips) or by the frequencies of what it
drew (frequencies), each slip in its own words (messages)."""
