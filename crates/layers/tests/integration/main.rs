//! kymo-layers' integration tests, in one binary (one link of the whole
//! stack instead of one per file): buffer reuse across steps, Sequential's
//! behaviour, and weight exchange with PyTorch.

mod buffer_reuse;
mod sequential;
mod torch_interop;
mod width;
