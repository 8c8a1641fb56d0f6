"""Check 14's sampling slips, each in its own words: what the diagnosis (slips.py, frequencies.py) names."""


GREEDY_EVERY_TIME = "every token was the most likely one: with do_sample=True, draw from the distribution"
TRUSTED_ORDER = ("the k-th largest logit was read from a fixed column of F.top_k's values, which MAX does not "
                 "promise to sort: take the smallest of the k values, values.min(axis=-1), as the threshold")
MULTIPLIED = "the logits were multiplied by the temperature: divide them, logits / temperature"
IGNORED = "the temperature was ignored: divide the logits by it (logits / temperature) before the noise or the softmax"
FIRST_POSITION = "the first position's logits were used: sample from the last position, logits[:, -1, :]"
TWICE = ("the temperature was applied twice: dividing the logits by T and multiplying the noise by T each do the "
         "whole job (argmax(z / T + g) is argmax(z + T * g)), so doing both samples softmax(z / T^2). Do one of them")
SMALLEST = ("top-k kept the k smallest logits: keep the k largest (F.top_k returns the largest) and set every logit "
            "below the k-th largest to -inf")
INCLUSIVE = ("top-k also masked the k-th largest logit itself (`scores <= kth` set to -inf, or only `scores > kth` "
             "kept), so top_k=k keeps k - 1 tokens and top_k=1 none at all. Mask only the logits below the k-th "
             "largest: F.where(scores < kth, float(\"-inf\"), scores)")
REVERSED = ("top-k's comparison points the wrong way: the logits above the k-th largest became -inf and the ones "
            "below it were kept. Mask the ones below it: F.where(scores < kth, float(\"-inf\"), scores)")
LARGEST = ("top-k kept only the most likely token: the threshold is the k-th largest logit, the smallest of "
           "F.top_k's k values (values.min(axis=-1)), not the largest (values.max(axis=-1), or values[:, 0])")
ZERO_FILL = ("the logits outside the top k were set to 0, an ordinary score (e^0 = 1), not an impossible one, so "
             "every token kept a chance: set them to float(\"-inf\")")
STALE = ("top-k had no effect: the logits outside the top k reached the argmax unmasked. The masked scores are "
         "not the ones the noise was added to: sample from what F.where returned")
NO_EFFECT = ("top-k had no effect: tokens outside the k most likely were drawn in their softmax proportions. "
             "Either the comparison points the wrong way (with top_k=1, `scores > kth` masks nothing), or the "
             "masked scores are not the ones sampled: sample from what F.where returned")
GAUSSIAN = ("the noise is Gaussian (random.gaussian): the argmax of logits plus Gaussian noise is not a sample from "
            "their softmax. Gumbel-max needs Gumbel noise: g = -log(-log(u)), u uniform in (0, 1)")
NAN_NOISE = ("the noise is NaN: log(u) is negative for u in (0, 1), so log(log(u)) has no value, and the argmax "
             "of NaN scores is index 0, whatever the seed. Gumbel noise negates the inner log first: "
             "g = -log(-log(u))")
ONE_PER_ROW = ("there is one noise value per row (the uniform draw has shape {shape}): every logit of a row gets "
               "the same noise, so the argmax is the greedy pick. Draw one per logit: random.uniform(scores.shape, "
               "...)")
UNIFORM_RANGE = ("the uniform draws lie between {lo:.3g} and {hi:.3g}: Gumbel noise -log(-log(u)) needs u over all of "
                 "(0, 1), range=(1e-10, 1.0)")
PROBABILITIES = "NumPy's choice refused the probabilities it was given"
