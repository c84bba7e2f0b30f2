pub fn validate_file_name(_n: &str) -> Result<(), String> {
    todo!()
}
