// Constructors of the model architectures; registry.cpp maps GGUF architecture names to them.
#pragma once

#include "engine/model.h"

namespace lfmd {

// "lfm2" and "lfm2moe" (engine/models/lfm2.cpp).
std::unique_ptr<Model> make_lfm2(const gguf::Reader& f, const Hparams& hp, const ForwardContext& ctx);

}  // namespace lfmd
