//! Bad and hostile data files: each gets a typed error with its exact
//! message, naming the file and, where there is one, the row and column;
//! none panics or allocates more than the file holds.

use std::path::Path;

use kymo_data::{load_csv, load_npy, Column, CsvOptions, DataError};

fn csv_error(text: &[u8], target: Column) -> (DataError, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data.csv");
    std::fs::write(&path, text).expect("write");
    let error = load_csv(&path, &CsvOptions::new(vec![target])).expect_err("bad file");
    let message = error
        .to_string()
        .replace(&path.display().to_string(), "data.csv");
    (error, message)
}

fn by_name(name: &str) -> Column {
    Column::Name(name.into())
}

#[test]
fn csv_problems_get_exact_messages() {
    let cases: &[(&[u8], Column, &str)] = &[
        (b"", by_name("y"), "data.csv: no data rows"),
        (b"a,b,y\n", by_name("y"), "data.csv: no data rows"),
        (
            b"a,b,y\n1,,3\n",
            by_name("y"),
            "data.csv: row 2, column 2: the cell is empty",
        ),
        (
            b"a,b,y\n1,x,3\n",
            by_name("y"),
            "data.csv: row 2, column 2: `x` is not a number",
        ),
        (
            b"a,b,y\n1,2,3\n1,2\n",
            by_name("y"),
            "data.csv: row 3 has 2 cells, the first row has 3",
        ),
        // The fuzzer's reproducer: a header longer than the rows, with the
        // target in the column the rows lack, used to index past the row.
        (
            b"a,b,target\n1,2\n3,4\n",
            by_name("target"),
            "data.csv: row 2 has 2 cells, the first row has 3",
        ),
        (
            b"a,b,y\n1,2,3\n",
            by_name("fat"),
            "data.csv: target column `fat` not found (header: a, b, y)",
        ),
        (
            b"a;b;fat\n1;2;3\n",
            by_name("fat"),
            "data.csv: row 1 is one cell holding `;`: the file looks `;`-separated, not `,`-separated",
        ),
        (
            b"\xFF\xFEa\x00,\x00y\x00\n\x00",
            by_name("y"),
            "data.csv: the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8",
        ),
        (
            b"a\x00,\x00y\x00\n\x00",
            by_name("y"),
            "data.csv: the file holds NUL bytes: it looks UTF-16 or binary, not a UTF-8 CSV",
        ),
    ];
    for (text, target, expected) in cases {
        let (_, message) = csv_error(text, target.clone());
        assert_eq!(
            &message,
            expected,
            "for {:?}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn a_utf8_byte_order_mark_is_read_past() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bom.csv");
    std::fs::write(&path, b"\xEF\xBB\xBFy,a,b\n1,2,3\n").expect("write");
    let data = load_csv(&path, &CsvOptions::new(vec![by_name("y")])).expect("BOM is fine");
    assert_eq!(data.targets()[[0, 0]], 1.0);
}

fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
        if fortran { "True" } else { "False" }
    );
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn npy_pair(x: &[u8], y: &[u8]) -> Result<kymo_data::Dataset, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    std::fs::write(&xp, x).expect("write");
    std::fs::write(&yp, y).expect("write");
    load_npy(&xp, &yp).map_err(|e| {
        e.to_string()
            .replace(&xp.display().to_string(), "x.npy")
            .replace(&yp.display().to_string(), "y.npy")
    })
}

#[test]
fn npy_problems_get_exact_messages() {
    let y2 = npy("<f4", false, "(2,)", &floats(&[1.0, 2.0]));
    let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (
            npy("<U1", false, "(2, 2)", &[0; 16]),
            y2.clone(),
            "x.npy: array of type '<U1': kymo reads floats ('<f4', '<f8'), integers ('<i8', '|u1', ...) and booleans ('|b1')",
        ),
        (
            npy("<c16", false, "(2, 1)", &[0; 32]),
            y2.clone(),
            "x.npy: complex array ('<c16'): kymo reads real float32 or float64 signals",
        ),
        // A header that claims far more than the file holds is refused
        // before anything is allocated (it used to abort the process).
        (
            npy("<f4", false, "(100000000000, 1000)", &[0; 16]),
            y2.clone(),
            "x.npy: shape [100000000000, 1000] of <f4 needs 400000000000000 data bytes, the file has 16 after its header (byte 84)",
        ),
        (
            npy("<f4", false, "(3, 2)", &floats(&[0.0; 6])),
            y2.clone(),
            "dataset: x.npy holds 3 samples (shape [3, 2]) but y.npy holds 2 targets (shape [2])",
        ),
        (
            npy("<f4", false, "(0, 4)", &[]),
            npy("<f4", false, "(0,)", &[]),
            "x.npy: no data rows",
        ),
        (Vec::new(), y2.clone(), "x.npy: not an NPY file: it does not start with \\x93NUMPY (0 bytes)"),
    ];
    for (x, y, expected) in cases {
        let error = npy_pair(&x, &y).expect_err("bad pair");
        assert_eq!(error, expected);
    }
}

#[test]
fn nested_brackets_in_a_shape_are_refused_at_once() {
    let shape = format!("{}{}", "(".repeat(9000), ")".repeat(9000));
    let header_too_long = npy("<f4", false, &shape, &[]);
    let error = npy_pair(&header_too_long, &npy("<f4", false, "(1,)", &[0; 4]))
        .expect_err("hostile header");
    assert!(error.contains("over the limit of 10000"), "{error}");
    let shape = format!("{}{}", "(".repeat(4000), ")".repeat(4000));
    let nested = npy("<f4", false, &shape, &[]);
    let error = npy_pair(&nested, &npy("<f4", false, "(1,)", &[0; 4])).expect_err("nested");
    assert!(error.contains("not a dimension"), "{error}");
}

#[test]
fn fortran_order_and_big_endian_arrays_read_as_numpy_means_them() {
    // x = [[0, 1, 2], [3, 4, 5]] stored column by column.
    let x = npy(
        "<f4",
        true,
        "(2, 3)",
        &floats(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
    );
    let y: Vec<u8> = [7.0f64, 8.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let data = npy_pair(&x, &npy(">f8", false, "(2,)", &y)).expect("valid NumPy files");
    let signals = data.signals();
    assert_eq!(
        signals.iter().copied().collect::<Vec<_>>(),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert_eq!(data.targets().column(0).to_vec(), vec![7.0, 8.0]);
}

#[test]
fn missing_files_name_the_file() {
    let error = load_npy(
        Path::new("/nonexistent/x.npy"),
        Path::new("/nonexistent/y.npy"),
    )
    .expect_err("missing");
    assert!(
        error.to_string().starts_with("/nonexistent/x.npy: "),
        "{error}"
    );
}
