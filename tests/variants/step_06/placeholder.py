# expect: fail: still a placeholder
from max.experimental.nn import Embedding, Module
from step_01 import GPT2Config


class GPT2PositionEmbeddings(Module):
    def __init__(self, config: GPT2Config):
        self.wpe = Embedding(config.n_positions, dim=config.n_embd)

    def forward(self, input_ids):
        # TODO: the embeddings of positions 0 .. seq-1
        raise NotImplementedError
