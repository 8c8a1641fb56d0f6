# expect: fail: still a placeholder
def generate_next_token(model, input_ids, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    raise NotImplementedError("TODO: the next token for every sequence")


def generate_tokens(model, input_ids, max_new_tokens, *, temperature=1.0, top_k=None, do_sample=True, seed=None):
    raise NotImplementedError("TODO: call generate_next_token max_new_tokens times")
