//! Parity with the peers, in one test binary: Keras 3 and PyTorch
//! fixtures of the seed's models (forward, loss, every gradient, optimizer
//! steps), read without Python.

mod classification_parity;
mod f32_accuracy;
mod graph_f32_accuracy;
mod graph_parity;
mod keras_parity;
mod parity_support;
mod torch_parity;
